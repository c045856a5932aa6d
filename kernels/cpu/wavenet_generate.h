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

// The queues and scratch of `streams` streams, all starting from silence
// (zero history, as the full forward pass's zero padding).
// The queues and scratch of `streams` streams, all starting from silence
// (zero history, as the full forward pass's zero padding).
//
// With several threads each owns a share of every layer's gate units: the
// rows of the input products that feed them and the residual/skip rows they
// feed, packed per thread so each core keeps its share of the weights in its
// own cache (one stream's step streams all of them). Each thread keeps the
// whole residual state and queues; one barrier per layer sums the threads'
// residual and skip contributions.
class WaveNetGenState {
 public:
  // threads <= 0: OpenMP's count (one inside a parallel region).
  WaveNetGenState(const WaveNetGenWeights& w, int64_t streams, int threads = 0);
  int64_t streams() const { return N_; }
  int64_t steps() const { return t_; }
  int threads() const { return static_cast<int>(parts_.size()); }

 private:
  friend void wavenet_generate_step(const WaveNetGenWeights&, WaveNetGenState&, const int32_t*, const float*,
                                    float*);
  struct Part {
    int64_t j0 = 0, j1 = 0;    // this thread's gate units
    int64_t c0 = 0, c1 = 0;    // its columns of last_conv_layers.1
    int64_t q0 = 0, q1 = 0;    // its columns of last_conv_layers.3
    std::vector<std::vector<float>> in_w;   // per layer [K R + cin][2 (j1 - j0)]: a units, then b units
    std::vector<std::vector<float>> in_b;   // per layer [2 (j1 - j0)]
    std::vector<float> last1_w, last3_w;    // [S][c1 - c0], [S][q1 - q0]
    std::vector<std::vector<float>> rings;  // per layer [slots][N][R]
    std::vector<float> h, x, z, u, skip, a, head;
  };
  int64_t N_, t_ = 0;
  std::vector<int64_t> slots_;
  // The residual and skip 1x1s side by side, input-major: per layer
  // [G/2][R + S]; a thread reads the rows of its units.
  std::vector<std::vector<float>> out_w_;
  std::vector<Part> parts_;
  // Shared between the threads: each one's residual/skip contribution (two
  // layers' worth, so a thread one layer ahead never overwrites what the
  // other still reads), and the head's hidden layer.
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
