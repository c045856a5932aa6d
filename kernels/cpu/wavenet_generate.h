#pragma once
// WaveNet's fast generation (Paine et al. 2016), one sample per call for a
// batch of independent streams: each layer keeps a queue of its past inputs,
// so a sample costs O(layers) products instead of a pass over the receptive
// field. Raw f32 buffers only (the engine is not involved); the CUDA twin of
// this step (nv-wavenet's persistent kernel) has this file's name.
//
// Layer l with dilation d and kernel K:
//   z = conv_b + sum_k W_k h(t - (K-1-k) d) [+ cond_w c(t)] [+ gate_bias]   [N, G]
//   u = tanh(z[:G/2]) * sigmoid(z[G/2:])                                     [N, G/2]
//   skip += skip_w u + skip_b,   h(t) of the next layer = (out_w u + out_b + h(t)) * sqrt(1/2)
// then logits = last3 relu(last1 relu(skip * sqrt(1/L))).
#include <cstdint>
#include <vector>

#include "kernels/wavenet_generate_math.h"

namespace cadenza::kernels {

struct WaveNetGenLayer {
  int64_t dilation = 1;
  const float* conv_w = nullptr;     // [G][R][K], PyTorch's layout: tap k = K-1 reads the current input
  const float* conv_b = nullptr;     // [G]
  const float* cond_w = nullptr;     // [G][cin], or null without local conditioning
  const float* gate_bias = nullptr;  // [N][G] per stream (global conditioning), or null
  const float* out_w = nullptr;      // [R][G/2]
  const float* out_b = nullptr;      // [R]
  const float* skip_w = nullptr;     // [S][G/2]
  const float* skip_b = nullptr;     // [S]
};

struct WaveNetGenWeights {
  int64_t R = 0, G = 0, S = 0, Q = 0, K = 2, cin = 0;
  const float* input_table = nullptr;  // [Q][R]: first_conv's column for each id, bias included
  std::vector<WaveNetGenLayer> layers;
  const float* last1_w = nullptr;  // [S][S]
  const float* last1_b = nullptr;  // [S]
  const float* last3_w = nullptr;  // [Q][S]
  const float* last3_b = nullptr;  // [Q]
};

// How the threads share a step. `units`: each thread owns a share of every
// layer's gate units (the rows of the input products that feed them and the
// residual/skip rows they feed, packed per thread so each core keeps its
// share of the weights in its own cache) for all streams, and one barrier
// per layer sums the threads' residual and skip contributions; one stream's
// step streams every weight once over all cores. `streams`: each thread runs
// whole streams with all the weights and never waits for another; each
// weight a thread loads serves all its streams. `automatic` takes `streams`
// when every thread gets at least kWaveNetStreamsPerThread streams.
enum class WaveNetGenSplit { automatic, units, streams };
constexpr int64_t kWaveNetStreamsPerThread = 1;

// The weights the products read. `f32`: as trained. `bf16`: every product's
// weights and inputs rounded to bf16 (kmath::bf16_bits) and multiplied in
// pairs into f32 sums, as nv-wavenet's reduced-precision mode does on the
// GPU: half the bytes per sample, and with AVX512_BF16 (vdpbf16ps) half the
// multiply instructions. Without it the pairs are widened to f32 and
// multiplied the same way (odd element first, as vdpbf16ps adds them), so
// the two give the same sums up to denormals. The queues, the gate, the
// biases and the sums stay f32.
enum class WaveNetGenPrecision { f32, bf16 };

// The queues and scratch of `streams` streams, all starting from silence
// (zero history, as the full forward pass's zero padding).
class WaveNetGenState {
 public:
  // threads <= 0: OpenMP's count (one inside a parallel region).
  WaveNetGenState(const WaveNetGenWeights& w, int64_t streams, int threads = 0,
                  WaveNetGenSplit split = WaveNetGenSplit::automatic,
                  WaveNetGenPrecision precision = WaveNetGenPrecision::f32);
  int64_t streams() const { return N_; }
  int64_t steps() const { return t_; }
  int threads() const { return static_cast<int>(parts_.size()); }
  bool split_by_streams() const { return by_streams_; }
  WaveNetGenPrecision precision() const { return bf16_ ? WaveNetGenPrecision::bf16 : WaveNetGenPrecision::f32; }

 private:
  friend void wavenet_generate_step(const WaveNetGenWeights&, WaveNetGenState&, const int32_t*, const float*,
                                    float*);
  friend void wavenet_generate_run(const WaveNetGenWeights&, WaveNetGenState&, int64_t, const int32_t*,
                                   const float*, const double*, double, int32_t*, float*);
  // Thread `t`'s part of step `t_now`: its streams and its share of the gate
  // units. Under the `units` split it meets the other threads at barriers,
  // so every thread of the team calls it.
  void step_part(const WaveNetGenWeights& w, int t, int64_t t_now, const int32_t* ids, const float* cond,
                 float* logits);
  // A share of the gate units and of the head's columns, with their weights
  // packed input-major (all of them under the `streams` split).
  struct Share {
    int64_t j0 = 0, j1 = 0;  // gate units
    int64_t c0 = 0, c1 = 0;  // columns of last_conv_layers.1
    int64_t q0 = 0, q1 = 0;  // columns of last_conv_layers.3
    std::vector<std::vector<float>> in_w;  // per layer [K R + cin][2 (j1 - j0)]: a units, then b units
    std::vector<std::vector<float>> in_b;  // per layer [2 (j1 - j0)]
    std::vector<float> last1_w, last3_w;   // [S][c1 - c0], [S][q1 - q0]
    // bf16: the same products as pairs of input rows (bf16 row 2i in the
    // low half of each 32 bits, row 2i + 1 in the high half), each input
    // block (a tap, the mel) starting on its own pair row; the f32 copies
    // above are then empty.
    std::vector<std::vector<uint32_t>> in_h;   // per layer: K taps of [ceil(R/2)][2U], then [ceil(cin/2)][2U]
    std::vector<std::vector<uint32_t>> out_h;  // per layer [ceil(U/2)][R + S]: this share's rows of out_w_
    std::vector<uint32_t> last1_h, last3_h;    // [ceil(S/2)][c1 - c0], [ceil(S/2)][q1 - q0]
  };
  // One thread's streams [n0, n1), its share, its queues and scratch.
  struct Part {
    int64_t n0 = 0, n1 = 0;
    const Share* share = nullptr;
    std::vector<std::vector<float>> rings;  // per layer [slots][n1 - n0][R]
    // The residual state and the skip sum of its streams side by side,
    // [n1 - n0][R + S]: the residual/skip product accumulates into it.
    std::vector<float> hs;
    std::vector<float> z, u, a, head;
  };
  int64_t N_, t_ = 0;
  bool by_streams_ = false, bf16_ = false;
  std::vector<int64_t> slots_;
  std::vector<Share> shares_;
  // The residual and skip 1x1s side by side, input-major: per layer
  // [G/2][R + S]; a thread reads the rows of its units.
  std::vector<std::vector<float>> out_w_;
  std::vector<Part> parts_;
  // `units` split only, shared between the threads: each one's residual/skip
  // contribution (two layers' worth, so a thread one layer ahead never
  // overwrites what the other still reads), and the head's hidden layer.
  std::vector<float> y_[2], b_;
};

// ids: [N] the current input of each stream; cond: [N][cin] this step's
// upsampled conditioning (null without); logits: [N][Q] out.
void wavenet_generate_step(const WaveNetGenWeights& w, WaveNetGenState& s, const int32_t* ids, const float* cond,
                           float* logits);

// `steps` steps of every stream, each drawing its next input from its own
// logits: ids [N] the first inputs; cond [steps][N][cin] (null without);
// stream n's step t draws with uniforms[n * steps + t] into out[n * steps +
// t]; logits [N][steps][Q] out, or null. Under the `streams` split the
// threads never meet: each runs its streams through every step, sampling
// included.
void wavenet_generate_run(const WaveNetGenWeights& w, WaveNetGenState& s, int64_t steps, const int32_t* ids,
                          const float* cond, const double* uniforms, double temperature, int32_t* out,
                          float* logits);

// The index drawn from logits [Q] at `temperature` (0: the largest) by the
// inverse CDF at uniform u in [0, 1): the same choice for the same u
// (kmath::wg's first_max, draw_weight and draw, which the CUDA kernel uses).
int32_t wavenet_sample(const float* logits, int64_t Q, double temperature, double u);

// The weights as the persistent CUDA kernel reads them (the layout
// kernels/wavenet_generate_math.h describes), for `streams` streams: built
// on the host, uploaded by kernels/cuda/wavenet_generate.cu, and run on the
// host by the CPU tests. f32 images fill the `_f32` vectors, bf16 ones the
// `_h` vectors.
struct WaveNetGenImages {
  kmath::wg::Dims dims;
  std::vector<float> layers_f32, last1_f32, last3_f32;
  std::vector<uint32_t> layers_h, last1_h, last3_h;
  std::vector<float> bias;       // [L][G + R + S]
  std::vector<float> gate_bias;  // [L][N][G], empty without global conditioning
  std::vector<float> table;      // [Q][R]
  std::vector<float> last1_b, last3_b;
  std::vector<int64_t> dilation, ring_at;  // per layer
  int64_t ring_floats = 0;                 // every layer's queue
};
WaveNetGenImages wavenet_generate_images(const WaveNetGenWeights& w, int64_t streams,
                                         WaveNetGenPrecision precision);

}  // namespace cadenza::kernels
