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
  const float* conv_w = nullptr;     // [K][G][R]: tap k (k = K-1 reads the current input)
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
class WaveNetGenState {
 public:
  WaveNetGenState(const WaveNetGenWeights& w, int64_t streams);
  int64_t streams() const { return N_; }
  int64_t steps() const { return t_; }

 private:
  friend void wavenet_generate_step(const WaveNetGenWeights&, WaveNetGenState&, const int32_t*, const float*,
                                    float*);
  int64_t N_, t_ = 0;
  std::vector<std::vector<float>> rings_;  // per layer: [slots][N][R]
  std::vector<int64_t> slots_;
  // The weights input-major, as the step reads them: per layer the taps and
  // the conditioning stacked [K R + cin][G], and the residual and skip 1x1s
  // side by side [G/2][R + S] (one product for both); the head [S][S], [S][Q].
  std::vector<std::vector<float>> in_w_, out_w_;
  std::vector<float> last1_w_, last3_w_;
  std::vector<float> h_, x_, z_, u_, y_, skip_, a_, b_;
};

// ids: [N] the current input of each stream; cond: [N][cin] this step's
// upsampled conditioning (null without); logits: [N][Q] out.
void wavenet_generate_step(const WaveNetGenWeights& w, WaveNetGenState& s, const int32_t* ids, const float* cond,
                           float* logits);

// The index drawn from logits [Q] at `temperature` (0: the largest) by the
// inverse CDF at uniform u in [0, 1): the same choice for the same u.
int32_t wavenet_sample(const float* logits, int64_t Q, double temperature, double u);

}  // namespace cadenza::kernels
