#pragma once
// Batch-1 autoregressive decoding of a SequenceModel (W4, `cadenza sample`).
//
// The layer ops are built for training: every token through them allocates
// tensors, forks a thread team per layer and repacks nothing useful. Here the
// weights are read in place (PyTorch's row-major [G, K]), the embedding is
// folded into layer 0's gates as a [V, G] table computed once, and one thread
// team lives for the whole generation: each thread owns a slice of the hidden
// units of every layer (all gates of those units, so the cell needs no
// exchange) and a slice of the output rows, and the team meets at one
// barrier per layer, one after the logits and one after the sample.
#include <cstdint>
#include <functional>
#include <vector>

#include "models/sequence_model.h"

namespace cadenza::kmath::dec {
struct Weights;  // kernels/decoder_math.h (not installed)
}

namespace cadenza::models {

class Decoder {
 public:
  // Snapshots the model's parameters (wherever they are): later changes to
  // the model are not seen.
  explicit Decoder(const SequenceModel& model);

  // Feeds one token (batch 1) and returns the logits [vocab] it predicts.
  const std::vector<float>& step(int32_t token);
  // Forgets the state (h, c = 0).
  void reset();

  // Feeds `primer` (all but its last token silently), then samples `tokens`
  // tokens, starting from the primer's last token or from `first`. The same
  // as calling step() and sample_token() in a loop, in one thread team.
  std::vector<int32_t> generate(int64_t tokens, int32_t first, const std::function<double()>& u,
                                double temperature, int64_t top_k, double top_p,
                                const std::vector<int32_t>& primer);

  int threads() const { return threads_; }
  // The snapshot of an LSTM's weights, for the CUDA decoder
  // (kernels/cuda/decoder.h); valid while this Decoder lives.
  void weights(kmath::dec::Weights* out) const;

 private:
  // One token as member `tid` of a team of `nt` (every member calls both):
  // team_pre computes this member's recurrent products from the state
  // h[cur], which needs no token; team_post adds the token's gates, runs the
  // cells into h[1 - cur] and the logits when asked, with a barrier after
  // each layer and after the logits.
  void team_pre(int tid, int nt, int cur);
  void team_post(int tid, int nt, int cur, int32_t token, bool logits);
  void check_token(int32_t token) const;

  int64_t V_, H_, L_, G_;
  bool lstm_;
  int threads_;
  std::vector<float> table_;  // [V, G]: embedding W_ih0^T + b_ih0 (+ b_hh0 for an LSTM)
  std::vector<std::vector<float>> w_ih_, w_hh_, b_x_, b_h_;  // per layer (w_ih_[0] unused)
  std::vector<float> w_out_, b_out_;
  // State, double-buffered per layer: h_[l][cur_] is read while
  // h_[l][1 - cur_] is written; c_ is updated per unit in place.
  std::vector<std::vector<float>> h_[2], c_;
  std::vector<std::vector<float>> gx_, gh_;  // per layer pre-activations [G]
  std::vector<float> logits_;
  int cur_ = 0;
};

}  // namespace cadenza::models
