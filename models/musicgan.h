#pragma once
// MusicGAN: a multi-track piano-roll GAN after MuseGAN (Dong et al., AAAI
// 2018) and its repository's current model, named exactly like the PyTorch
// twin in tests/reference/musicgan.py.
//
// Rolls are [B, tracks, bars, steps_per_bar, pitches] (4 x 48 x 84 by
// default: C1..B7). Every network is a 3-D convolution over
// (bars, steps, pitches), with its channels on dim 1.
//
// Generator (the hybrid model): four latents of z_dim each,
//   inter          shared by the tracks, the same in every bar
//   inter_temporal shared by the tracks, one per bar through temporal_shared
//   intra          one per track, the same in every bar
//   intra_temporal one per track, one per bar through temporal_private.{i}
// make each track's bar latent [4 z_dim] per bar. A trunk shared by the
// tracks (shared.{j}: transposed convs, BatchNorm, ReLU) grows it to
// (bars, 16, 7); each track's private bar generator (private.{i}) then grows
// pitch before time (pitch_time) and time before pitch (time_pitch), merges
// the two with a 1x1x1 conv and ends in a sigmoid (or tanh, binary neurons, or
// a one-voice softmax: MusicGanConfig::output).
//
// Critic: per track, pitch-time and time-pitch convolutions and a 1x1x1
// merge (private.{i}); the tracks concatenated through shared.{0,1} down to
// one position per bar; beside it a chroma stream (pitch classes) and an
// onset stream (note starts summed over pitch), as MuseGAN's current critic
// has; then a conv across neighbouring bars (merged) and one linear output
// (dense). Each conv is followed by a layer norm (per example over channels
// and positions, with a per-channel scale and shift; WGAN-GP's advice in
// place of batch norm, which would couple the examples the penalty treats
// one by one) and LeakyReLU(0.2).
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"

namespace cadenza::models {

struct MusicGanConfig {
  // The rolls.
  int64_t tracks = 4, bars = 4, steps_per_bar = 48, pitches = 84;
  int lowest_pitch = 24;  // C1
  std::vector<std::string> track_names;
  std::vector<int> programs;  // General MIDI program per track
  std::vector<bool> is_drum;
  int us_per_quarter = 500000;
  int meter_numerator = 4, meter_denominator = 4;
  std::string track_mode = "order";  // how the data's tracks were assigned: order | program
  // The networks.
  int64_t z_dim = 32;            // each of the four latents
  int64_t temporal_channels = 1024;  // hidden width of the temporal generators
  int64_t gen_channels = 64;     // generator width unit (published: 64; trunk 256-128-128-64)
  int64_t critic_channels = 16;  // critic width unit (published: 16; merged 512)
  // The generator's output:
  //   sigmoid  rolls in [0, 1], binarised after training (MuseGAN)
  //   tanh     rolls in [-1, 1]
  //   binary   0/1 rolls during training too: the sigmoid thresholded at 0.5
  //            forward, its gradient backward (BinaryMuseGAN's deterministic
  //            binary neurons with the straight-through estimator)
  //   voice    each track one voice: per step a softmax over the pitches and
  //            a rest, its one-hot maximum forward, the softmax's gradient
  //            backward (monophonic parts, as Coconet and DeepBach model
  //            the chorales' voices)
  //   hold     voice with a third choice per step, "hold": the previous
  //            step's note (or rest) goes on, as DeepBach's hold symbol; a
  //            note is one choice, not one per step (straight through the
  //            soft recurrence state = p_hold * state + p_new)
  std::string output = "sigmoid";
  // How the generator's private layers reach steps_per_bar from 16 steps:
  //   conv     a transposed conv whose kernel slices make each 16th's steps
  //            (MuseGAN's layers)
  //   nearest  the private layers work at 16 steps per bar, and each step's
  //            logits are repeated steps_per_bar / 16 times before the output
  //            (nearest-neighbour upsampling): a note never ends inside a 16th
  std::string time_upsample = "conv";
  std::string critic_norm = "layer";  // layer | none: what follows each critic conv

  std::string to_json() const;
  // Throws cadenza::Error naming the field that is missing or invalid.
  static MusicGanConfig from_json(const std::string& json);
  void validate() const;  // OptionError naming the field
  int64_t latent_rows() const { return 2 + 2 * tracks; }
  // Steps per bar / 16: the time factor of the last transposed conv.
  int64_t time_factor() const { return steps_per_bar / 16; }
  // The time factor of the private layers' transposed convs: 1 with nearest upsampling.
  int64_t private_time_factor() const { return time_upsample == "nearest" ? 1 : time_factor(); }
};

// A conv (or transposed conv) and an optional normalisation, named "conv"
// and `norm_name` ("bn" in the generator, "norm" in the critic).
class ConvBlock : public nn::Module {
 public:
  ConvBlock(std::shared_ptr<nn::Module> conv, std::shared_ptr<nn::Module> bn, const std::string& norm_name = "bn");
  Tensor forward(const Tensor& x) override;  // conv, then the normalisation when present
  std::shared_ptr<nn::Module> conv, bn;
};

// Layer norm over every dim of an example but the batch (channels and
// positions), then a per-channel scale and shift: "weight", "bias" [C].
class ChannelLayerNorm : public nn::Module {
 public:
  explicit ChannelLayerNorm(int64_t channels, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;  // [B, C, ...]
  Tensor weight, bias;
  double eps;
};

// z [B, z_dim] -> [B, z_dim, bars, 1, 1]: two transposed convs over bars.
class TemporalGenerator : public nn::Module {
 public:
  explicit TemporalGenerator(const MusicGanConfig& cfg);
  Tensor forward(const Tensor& z) override;
  std::shared_ptr<ConvBlock> block0, block1;
};

class MusicGanGenerator : public nn::Module {
 public:
  explicit MusicGanGenerator(const MusicGanConfig& cfg);
  // z: [B, latent_rows(), z_dim] (row 0 inter, 1 inter_temporal, 2.. intra
  // per track, then intra_temporal per track) -> [B, tracks, bars, steps, pitches]
  Tensor forward(const Tensor& z) override;
  // N(0, 1) latents for a batch.
  Tensor sample_latents(int64_t batch, Generator* gen = nullptr) const;

  MusicGanConfig config;
  std::shared_ptr<TemporalGenerator> temporal_shared;
  std::vector<std::shared_ptr<TemporalGenerator>> temporal_private;
  std::vector<std::shared_ptr<ConvBlock>> shared;
  struct Private {
    std::vector<std::shared_ptr<ConvBlock>> pitch_time, time_pitch;
    std::shared_ptr<nn::Module> merge;
  };
  std::vector<Private> private_;
};

class MusicGanCritic : public nn::Module {
 public:
  explicit MusicGanCritic(const MusicGanConfig& cfg);
  // x: [B, tracks, bars, steps, pitches] -> [B, 1]
  Tensor forward(const Tensor& x) override;

  MusicGanConfig config;
  struct Private {
    std::vector<std::shared_ptr<ConvBlock>> pitch_time, time_pitch;
    std::shared_ptr<ConvBlock> merge;
  };
  std::vector<Private> private_;
  std::vector<std::shared_ptr<ConvBlock>> shared, chroma, onset;
  std::shared_ptr<ConvBlock> merged;
  std::shared_ptr<nn::Linear> dense;
};

// WGAN-GP's penalty: mean over the batch of (||d critic(x_hat) / d x_hat|| - 1)^2
// at x_hat = eps * real + (1 - eps) * fake, eps ~ U(0, 1) per example (drawn
// from gen), differentiable with respect to the critic's parameters.
Tensor gradient_penalty(MusicGanCritic& critic, const Tensor& real, const Tensor& fake, const Tensor& eps);

// The critic's loss mean(D(fake)) - mean(D(real)) + lambda * penalty, and
// its parts: the Wasserstein estimate mean(D(real)) - mean(D(fake)) and the
// penalty, 0-d tensors without history on the critic's device (a caller
// reads them when it needs them: on a GPU each read waits for the device).
struct CriticLoss {
  Tensor loss, wasserstein, penalty;
};
CriticLoss critic_loss(MusicGanCritic& critic, const Tensor& real, const Tensor& fake, const Tensor& eps,
                       double lambda);

}  // namespace cadenza::models
