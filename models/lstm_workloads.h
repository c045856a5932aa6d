#pragma once
// The canonical LSTM workloads of DESIGN.md, shared by `cadenza bench` and
// benchmarks/bench_lstm.cpp so both time exactly the same code.
//   W1: training step; vocab 388, embedding 256, LSTM 2 x 512, batch 32,
//       sequence 128, cross-entropy, Adam.
//   W4: sampling with the W1 model, batch 1, 2000 tokens.
//   K2: one LSTM layer forward + backward, hidden 512, input 512, seq 128.
#include <functional>

#include "models/sequence_model.h"

namespace cadenza::models {

SequenceModelConfig w1_config();

// What data parallelism does around a training step's backward, each with
// the optimizer's parameters: before it (arms an all-reduce overlapped with
// backward) and between it and clipping (finishes that all-reduce, or runs
// the whole one). Either may be empty.
struct GradSync {
  std::function<void(const std::vector<Tensor>& params, const Tensor& loss)> before_backward;
  std::function<void(const std::vector<Tensor>& params)> after_backward;
};

// Prepares W1 and returns one training step (forward, backward, clip, Adam),
// with `sync` around backward (the data-parallel scaling benchmark
// all-reduces the gradients there).
std::function<void()> make_w1_step(uint64_t seed = 1, GradSync sync = {});
constexpr int64_t kW1Tokens = 32 * 128;

// Generates `tokens` tokens one at a time from `model` (batch 1) with
// temperature 1, starting from token `first`; `u` gives the uniforms. A
// model on the host runs the Decoder; a model on a device (Module::to) runs
// forward_tokens there one token at a time with its state carried (the
// primer in one call), and only each step's logits come back to be sampled.
std::vector<int32_t> generate(SequenceModel& model, int64_t tokens, int32_t first,
                              const std::function<double()>& u, double temperature = 1.0,
                              int64_t top_k = 0, double top_p = 1.0,
                              const std::vector<int32_t>& primer = {});

// Prepares W4 (the W1 model, untrained) and returns one 2000-token generation.
std::function<void()> make_w4_sample(uint64_t seed = 1);
constexpr int64_t kW4Tokens = 2000;

// K2: returns one forward + backward of a single LSTM layer for `batch`.
std::function<void()> make_k2_layer(int64_t batch, uint64_t seed = 1);
// FLOPs of K2 for `batch`: the GEMMs of forward (2 T B (I + H) 4H) and backward (twice that).
double k2_flops(int64_t batch);

}  // namespace cadenza::models
