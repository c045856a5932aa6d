#pragma once
// The LSTM / GRU sequence model over event tokens, named exactly like this
// PyTorch module's state_dict:
//
//   class SequenceModel(nn.Module):
//       def __init__(self, vocab, embed, hidden, layers, cell, dropout):
//           self.embedding = nn.Embedding(vocab, embed)
//           self.rnn = nn.LSTM(embed, hidden, layers, batch_first=True, dropout=dropout)  # or nn.GRU
//           self.output = nn.Linear(hidden, vocab)
//
// Its config travels as JSON in a checkpoint's __metadata__["config"].
#include <memory>
#include <string>

#include "engine/nn.h"
#include "engine/rnn.h"

namespace cadenza::models {

struct SequenceModelConfig {
  std::string vocab = "performance";  // "performance" or "melody"
  int64_t vocab_size = 388;
  std::string cell = "lstm";  // "lstm" or "gru"
  int64_t embed = 256;
  int64_t hidden = 512;
  int64_t layers = 2;
  double dropout = 0.0;

  std::string to_json() const;
  // Throws cadenza::Error naming the field that is missing or invalid.
  static SequenceModelConfig from_json(const std::string& json);
  void validate() const;
};

// Recurrent state between calls: h (and c for an LSTM), [layers, B, hidden].
struct RecurrentState {
  Tensor h, c;
  bool defined() const { return h.defined(); }
  RecurrentState detached() const { return {h.defined() ? h.detach() : h, c.defined() ? c.detach() : c}; }
};

class SequenceModel : public nn::Module {
 public:
  // dropout_gen draws the dropout masks (the default generator if null).
  explicit SequenceModel(const SequenceModelConfig& cfg, Generator* dropout_gen = nullptr);
  // ids: integer [B, T] -> logits [B, T, vocab]; `state` is read (if defined)
  // and replaced by the final state.
  Tensor forward_tokens(const Tensor& ids, RecurrentState* state = nullptr);
  Tensor forward(const Tensor& ids) override { return forward_tokens(ids); }
  // Layer 0's gate inputs for every token, [vocab, G]: embedding W_ih0^T +
  // b_ih0, plus b_hh0 for an LSTM (a GRU keeps b_hh inside its n gate).
  // forward_tokens looks tokens up in it when a batch has at least vocab
  // tokens; the decoder looks up every sampled token.
  Tensor gate_table() const;

  SequenceModelConfig config;
  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<nn::RNNBase> rnn;
  std::shared_ptr<nn::Linear> output;
};

// Picks one token from logits [V] with temperature, top-k (0 = off) and
// top-p (1 = off), using the uniform number u in [0, 1) as its only
// randomness, so fast and naive samplers can be compared exactly.
int64_t sample_token(const float* logits, int64_t V, double temperature, int64_t top_k, double top_p,
                     double u);

}  // namespace cadenza::models
