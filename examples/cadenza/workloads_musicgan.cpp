// MusicGAN workload (W5 of DESIGN.md) for `cadenza bench`.
#include "engine/autograd.h"
#include "engine/optim.h"
#include "models/musicgan.h"
#include "workloads.h"

namespace cadenza::cli {

namespace {

// One WGAN-GP critic update (the generator's rolls without history, the
// critic on real, fake and interpolated rolls, the penalty's double
// backward) and one generator update, batch 16, MuseGAN's published sizes
// (4 tracks x 4 bars x 48 steps x 84 pitches), Adam 2e-4 (0.5, 0.9).
std::function<void()> w5_step() {
  manual_seed(1);
  models::MusicGanConfig cfg;
  auto gen = std::make_shared<models::MusicGanGenerator>(cfg);
  auto critic = std::make_shared<models::MusicGanCritic>(cfg);
  auto opt_g = std::make_shared<optim::Adam>(gen->parameters(), 2e-4, 0.5, 0.9);
  auto opt_d = std::make_shared<optim::Adam>(critic->parameters(), 2e-4, 0.5, 0.9);
  auto rng = std::make_shared<Generator>(5);
  const int64_t B = 16;
  Tensor real = bernoulli({B, cfg.tracks, cfg.bars, cfg.steps_per_bar, cfg.pitches}, 0.05, DType::f32, rng.get());
  return [=] {
    Tensor fake;
    {
      NoGradGuard ng;
      fake = gen->forward(gen->sample_latents(B, rng.get()));
    }
    Tensor eps = rand({B, 1, 1, 1, 1}, DType::f32, rng.get());
    opt_d->zero_grad();
    models::critic_loss(*critic, real, fake, eps, 10.0).loss.backward();
    opt_d->step();
    for (Tensor p : critic->parameters()) p.requires_grad_(false);
    opt_g->zero_grad();
    neg(mean(critic->forward(gen->forward(gen->sample_latents(B, rng.get()))))).backward();
    opt_g->step();
    for (Tensor p : critic->parameters()) p.requires_grad_(true);
  };
}

}  // namespace

std::vector<Workload> musicgan_workloads() {
  Workload w5;
  w5.name = "W5";
  w5.description = "MusicGAN training step: one WGAN-GP critic update with the gradient penalty and one generator "
                   "update, batch 16, 4 tracks x 4 bars x 48 steps x 84 pitches, MuseGAN's sizes, Adam";
  w5.unit = "step";
  w5.throughput_unit = "segments/s";
  w5.work_per_unit = 2.0 * 16;
  w5.throughput_scale = 1;
  w5.prepare = w5_step;
  return {w5};
}

}  // namespace cadenza::cli
