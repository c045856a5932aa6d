#pragma once
// The polyphonic piano-roll model of the JSB Chorales / Nottingham /
// MuseData / Piano-midi.de benchmark (Boulanger-Lewandowski et al. 2012):
// each frame is an 88-key multi-hot vector, an LSTM or GRU stack reads the
// frames, and 88 independent sigmoids predict the next frame. Named exactly
// like this PyTorch module's state_dict:
//
//   class PolyModel(nn.Module):
//       def __init__(self, hidden, layers, cell, dropout):
//           self.rnn = nn.LSTM(88, hidden, layers, batch_first=True, dropout=dropout)  # or nn.GRU
//           self.output = nn.Linear(hidden, 88)
//       def forward(self, x):                       # x: [B, T, 88] in {0, 1}
//           y, _ = self.rnn(x)
//           return self.output(F.dropout(y, self.dropout, self.training))
//
// Its config travels as JSON in a checkpoint's __metadata__["config"].
#include <memory>
#include <string>

#include "engine/nn.h"
#include "engine/rnn.h"
#include "models/sequence_model.h"

namespace cadenza::models {

constexpr int64_t kPolyKeys = 88;   // piano keys A0..C8
constexpr int kPolyLowPitch = 21;   // MIDI note of key 0

struct PolyModelConfig {
  std::string cell = "lstm";  // "lstm" or "gru"
  int64_t hidden = 200;
  int64_t layers = 2;
  double dropout = 0.2;       // between layers and before the output layer
  double frame_beats = 1.0;   // length of one frame in quarter notes, for MIDI output
  std::string dataset;        // where it was trained (informational)

  std::string to_json() const;
  // Throws cadenza::Error naming the field that is missing or invalid.
  static PolyModelConfig from_json(const std::string& json);
  void validate() const;
};

class PolyModel : public nn::Module {
 public:
  // dropout_gen draws the dropout masks (the default generator if null).
  explicit PolyModel(const PolyModelConfig& cfg, Generator* dropout_gen = nullptr);
  // frames: f32 [B, T, 88] -> logits [B, T, 88] for the frame after each;
  // `state` is read (if defined) and replaced by the final state.
  Tensor forward_frames(const Tensor& frames, RecurrentState* state = nullptr);
  Tensor forward(const Tensor& frames) override { return forward_frames(frames); }

  PolyModelConfig config;
  std::shared_ptr<nn::RNNBase> rnn;
  std::shared_ptr<nn::Linear> output;

 private:
  Generator* gen_;
};

// The benchmark's loss: for every frame with mask 1, the sum over the 88
// keys of binary cross-entropy between sigmoid(logits) and target, summed
// over those frames (divide by the frame count for the NLL per frame).
// logits, target: [B, T, 88]; mask: [B, T] of 0/1 in logits' dtype -> scalar.
Tensor poly_frame_nll_sum(const Tensor& logits, const Tensor& target, const Tensor& mask);

}  // namespace cadenza::models
