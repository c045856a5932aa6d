#pragma once
// WaveNet (van den Oord et al. 2016) as r9y9/wavenet_vocoder builds it, over
// 8-bit mu-law audio, named exactly like the PyTorch twin in
// tests/reference/wavenet.py:
//
//   first_conv                       1x1 over the one-hot input (a lookup here)
//   conv_layers.{i}.conv             causal dilated conv, residual -> gate channels
//   conv_layers.{i}.conv1x1c / 1x1g  conditioning into the gate (no bias)
//   conv_layers.{i}.conv1x1_out      1x1, gate/2 -> residual (added to the input, * sqrt(0.5))
//   conv_layers.{i}.conv1x1_skip     1x1, gate/2 -> skip
//   last_conv_layers.{1,3}           ReLU, 1x1, ReLU, 1x1 -> quantize logits
//   embed_classes                    global conditioning: class id -> gin_channels
//   upsample.convs.{j}               local conditioning: mel frames repeated and smoothed to samples
//
// The dilation of layer i is 2^(i mod layers/stacks). Its config travels as
// JSON in a checkpoint's __metadata__["config"].
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"

namespace cadenza::models {

struct WaveNetConfig {
  int64_t layers = 20, stacks = 2, kernel_size = 2;
  int64_t residual_channels = 64, gate_channels = 128, skip_channels = 256;
  int64_t quantize = 256;      // mu-law classes, in and out
  int64_t cin_channels = 0;    // local conditioning: mel bands (0: none)
  int64_t n_classes = 0;       // global conditioning: classes (0: none)
  int64_t gin_channels = 16;   // ... embedded into this many channels
  std::vector<std::string> class_names;  // the class ids' names (e.g. the corpus' folders)
  std::vector<int64_t> upsample_scales;  // mel frames -> samples; their product is hop_length
  double dropout = 0.05;       // on each layer's input, in training
  // The audio and the mel features it was trained on.
  int sample_rate = 16000;
  int64_t n_fft = 1024, hop_length = 256, n_mels = 0;
  double fmin = 0, fmax = 8000;

  std::string to_json() const;
  // Throws cadenza::Error naming the field that is missing or invalid.
  static WaveNetConfig from_json(const std::string& json);
  void validate() const;  // OptionError naming the field
  int64_t dilation(int64_t layer) const;
  // Samples of the past that the output at t sees: (K - 1) * sum of dilations + 1.
  int64_t receptive_field() const;
};

class WaveNetLayer : public nn::Module {
 public:
  WaveNetLayer(const WaveNetConfig& cfg, int64_t dilation);
  // x: [B, R, T]; c: [B, cin, T] or undefined; g: [B, gin, 1] or undefined
  // -> (next x [B, R, T], the gate's output z [B, G/2, T]). The layer's skip
  // output is conv1x1_skip(z); the model takes every layer's in one product.
  std::pair<Tensor, Tensor> forward_layer(const Tensor& x, const Tensor& c, const Tensor& g, Generator* gen);

  int64_t dilation;
  double dropout;
  std::shared_ptr<nn::Conv1d> conv, conv1x1c, conv1x1g, conv1x1_out, conv1x1_skip;
};

class WaveNet : public nn::Module {
 public:
  // dropout_gen draws the dropout masks (the default generator if null).
  explicit WaveNet(const WaveNetConfig& cfg, Generator* dropout_gen = nullptr);

  // x: integer mu-law ids [B, T]; mel: [B, n_mels, frames] with
  // frames * hop_length >= T (or undefined); classes: integer [B] (or
  // undefined) -> logits [B, quantize, T] for the sample after each.
  Tensor forward_audio(const Tensor& x, const Tensor& mel = Tensor(), const Tensor& classes = Tensor());
  // The same with the mel already upsampled to the input's steps: c: [B, n_mels, T].
  Tensor forward_conditioned(const Tensor& x, const Tensor& c, const Tensor& classes);
  // [B, n_mels, frames] -> [B, n_mels, frames * hop_length]
  Tensor upsample_mel(const Tensor& mel);
  // The per-class vectors g: integer [B] -> [B, gin_channels, 1].
  Tensor class_vectors(const Tensor& classes);

  WaveNetConfig config;
  std::shared_ptr<nn::Conv1d> first_conv;
  std::vector<std::shared_ptr<WaveNetLayer>> layers;
  std::shared_ptr<nn::Conv1d> last1, last3;  // last_conv_layers.1 and .3
  std::shared_ptr<nn::Embedding> embed_classes;
  std::vector<std::shared_ptr<nn::Conv1d>> upsample_convs;

 private:
  Generator* gen_;
};

}  // namespace cadenza::models
