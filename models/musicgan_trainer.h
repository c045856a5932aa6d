#pragma once
// Training MusicGAN with WGAN-GP (Gulrajani et al. 2017), a task of the one
// training loop (models/trainer.h). A step of the loop is one generator
// update after `critic_steps` critic updates, each on its own batch of real
// segments (0/1, or -1/1 for a generator ending in tanh); the critic
// minimises mean D(fake) - mean D(real) + lambda * GP,
// the generator -mean D(G(z)). Both use Adam (MuseGAN's 2e-4, betas 0.5 and
// 0.9) at a constant rate.
//
// Evaluation generates `eval_samples` rolls from latents fixed once per run
// and scores them against the training data with MuseGAN's metrics: the
// figure the loop minimises (and keeps the best checkpoint by) is the mean
// over non-drum tracks of the relative distances of QN and UPC from the
// data's. Each evaluation also logs every metric, the critic's Wasserstein
// estimate on held-out segments and a piano-roll picture of a sample.
#include <cstdint>
#include <memory>
#include <string>

#include "models/musicgan.h"
#include "models/musicgan_data.h"
#include "models/musicgan_metrics.h"
#include "models/trainer.h"

namespace cadenza::models {

struct MusicGanTrainOptions : LoopOptions {
  int64_t batch = 16;          // segments per critic and per generator update
  int64_t critic_steps = 5;    // critic updates per generator update
  double gp_lambda = 10;       // the gradient penalty's weight
  double beta1 = 0.5, beta2 = 0.9;
  int64_t eval_samples = 64;   // generated rolls scored per evaluation
  int64_t data_samples = 256;  // training segments the metrics of the data are taken on
  MusicGanTrainOptions() {
    steps = 5000;
    eval_every = 250;
    lr = 2e-4;
    clip = 0;
    schedule = LrSchedule::kConstant;
  }
};

TrainResult train_musicgan(const MusicGanConfig& cfg, const MultitrackCorpus& data, MusicGanTrainOptions opt);

// The generator, critic and config of a checkpoint (eval mode); a checkpoint
// of another family is refused by name.
struct MusicGanCheckpoint {
  std::unique_ptr<MusicGanGenerator> generator;
  std::unique_ptr<MusicGanCritic> critic;
  MusicGanConfig config;
};
MusicGanCheckpoint load_musicgan(const std::string& path);

// The generator's output for latents z [n, latent_rows, z_dim], in eval
// mode (BatchNorm on its running statistics) and without history:
// [n, tracks, bars, steps, pitches] in [0, 1] (sigmoid) or [-1, 1] (tanh).
Tensor generator_output(MusicGanGenerator& g, const Tensor& z);

// 0/1 rolls from generator outputs: a step sounds above `threshold` (< 0:
// 0.5 for sigmoid, 0 for tanh) or, with bernoulli, with the output's
// probability (tanh outputs mapped to [0, 1]), drawn from rng (which only
// bernoulli needs).
Tensor binarize_rolls(const Tensor& y, const MusicGanConfig& cfg, double threshold = -1, bool bernoulli = false,
                      Generator* rng = nullptr);

// `count` rolls from latents drawn from rng, binarised as above.
Tensor generate_rolls(MusicGanGenerator& g, int64_t count, Generator& rng, double threshold = -1,
                      bool bernoulli = false);

// The MultitrackOptions that read data the way `cfg` was trained on.
MultitrackOptions data_options(const MusicGanConfig& cfg);

// A roll [tracks, bars, steps, pitches] of 0/1 as a multi-track score: each
// track on its program (drums on channel 10), at the data's tempo and meter.
midi::Score roll_score(const Tensor& roll, const MusicGanConfig& cfg);

// A picture of a roll [tracks, bars, steps, pitches]: one colour per track.
// Error for a roll without notes.
png::Image roll_picture(const Tensor& roll, const MusicGanConfig& cfg);

}  // namespace cadenza::models
