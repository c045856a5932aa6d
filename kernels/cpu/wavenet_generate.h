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

// The queues and scratch of `streams` streams, all starting from silence
// (zero history, as the full forward pass's zero padding).
class WaveNetGenState {
 public:
  // threads <= 0: OpenMP's count (one inside a parallel region).
  WaveNetGenState(const WaveNetGenWeights& w, int64_t streams, int threads = 0,
                  WaveNetGenSplit split = WaveNetGenSplit::automatic);
  int64_t streams() const { return N_; }
  int64_t steps() const { return t_; }
  int threads() const { return static_cast<int>(parts_.size()); }
  bool split_by_streams() const { return by_streams_; }

 private:
  friend void wavenet_generate_step(const WaveNetGenWeights&, WaveNetGenState&, const int32_t*, const float*,
                                    float*);
  // A share of the gate units and of the head's columns, with their weights
  // packed input-major (all of them under the `streams` split).
  struct Share {
    int64_t j0 = 0, j1 = 0;  // gate units
    int64_t c0 = 0, c1 = 0;  // columns of last_conv_layers.1
    int64_t q0 = 0, q1 = 0;  // columns of last_conv_layers.3
    std::vector<std::vector<float>> in_w;  // per layer [K R + cin][2 (j1 - j0)]: a units, then b units
    std::vector<std::vector<float>> in_b;  // per layer [2 (j1 - j0)]
    std::vector<float> last1_w, last3_w;   // [S][c1 - c0], [S][q1 - q0]
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
  bool by_streams_ = false;
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

// The index drawn from logits [Q] at `temperature` (0: the largest) by the
// inverse CDF at uniform u in [0, 1): the same choice for the same u.
int32_t wavenet_sample(const float* logits, int64_t Q, double temperature, double u);

}  // namespace cadenza::kernels
