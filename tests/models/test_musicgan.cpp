// MusicGAN: the generator and the critic against their PyTorch twin
// (tests/reference/musicgan.py, goldens by make_musicgan_golden.py) in f64:
// rolls, scores, one WGAN-GP critic loss with its penalty and every critic
// gradient (second order through the critic), the generator loss and every
// generator gradient, and BatchNorm's running statistics.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "models/musicgan.h"
#include "require_close.h"

using namespace cadenza;
using namespace cadenza::models;
using cadenza::test::require_close;

namespace {

nn::StateDict with_prefix(const LoadedTensors& f, const std::string& prefix) {
  nn::StateDict sd;
  for (auto& kv : f.tensors)
    if (kv.first.rfind(prefix, 0) == 0) sd.emplace_back(kv.first.substr(prefix.size()), kv.second);
  return sd;
}

}  // namespace

TEST_CASE("musicgan: generator, critic and WGAN-GP match the PyTorch twin", "[models][musicgan][golden]") {
  auto f = load_safetensors(std::string(CADENZA_SOURCE_DIR) + "/tests/golden/musicgan.safetensors");
  for (const char* name : {"small", "tanh_4bars", "binary", "voice", "voice_nearest", "sigmoid_nearest", "hold_nearest"}) {
    DYNAMIC_SECTION(name) {
      const std::string p = std::string(name) + ".";
      MusicGanConfig cfg = MusicGanConfig::from_json(f.metadata.at(p + "config"));
      MusicGanGenerator gen(cfg);
      MusicGanCritic critic(cfg);
      gen.to(DType::f64);
      critic.to(DType::f64);
      gen.load_state_dict(with_prefix(f, p + "generator."));  // strict: the twin's names
      critic.load_state_dict(with_prefix(f, p + "critic."));
      Tensor z = f.at(p + "z"), real = to_dtype(f.at(p + "real"), DType::f64), eps = f.at(p + "eps");
      Tensor fake = gen.forward(z);
      require_close(fake, f.at(p + "fake"), 1e-10, "generated rolls");
      require_close(critic.forward(fake), f.at(p + "scores"), 1e-10, "critic scores");

      CriticLoss cl = critic_loss(critic, real, fake, eps, 10.0);
      require_close(reshape(cl.loss, {1}), f.at(p + "loss_d"), 1e-10, "critic loss");
      REQUIRE(cl.penalty.item() == Approx(f.at(p + "gp").item()).epsilon(1e-10));
      REQUIRE(cl.wasserstein.item() == Approx(f.at(p + "wasserstein").item()).epsilon(1e-9).margin(1e-12));
      auto params = critic.named_parameters();
      std::vector<Tensor> ps;
      for (auto& kv : params) ps.push_back(kv.second);
      auto grads = grad({cl.loss}, ps);
      for (size_t i = 0; i < params.size(); ++i)
        require_close(grads[i], f.at(p + "grad_critic." + params[i].first), 1e-9, "critic gradient of " + params[i].first);

      Tensor loss_g = neg(mean(critic.forward(gen.forward(f.at(p + "z2")))));
      require_close(reshape(loss_g, {1}), f.at(p + "loss_g"), 1e-10, "generator loss");
      auto gparams = gen.named_parameters();
      std::vector<Tensor> gs;
      for (auto& kv : gparams) gs.push_back(kv.second);
      auto ggrads = grad({loss_g}, gs);
      for (size_t i = 0; i < gparams.size(); ++i)
        require_close(ggrads[i], f.at(p + "grad_generator." + gparams[i].first), 1e-9,
                      "generator gradient of " + gparams[i].first);
      for (auto& kv : gen.named_buffers())
        if (kv.first.find("running") != std::string::npos)
          require_close(kv.second, f.at(p + "after." + kv.first), 1e-10, "BatchNorm " + kv.first);
    }
  }
}

TEST_CASE("musicgan: config JSON, sizes and errors", "[models][musicgan]") {
  MusicGanConfig cfg;
  cfg.track_names = {"Soprano", "Alto", "Tenor", "Bass"};
  cfg.programs = {52, 52, 52, 52};
  cfg.is_drum = {false, false, false, false};
  MusicGanConfig back = MusicGanConfig::from_json(cfg.to_json());
  REQUIRE(back.to_json() == cfg.to_json());
  REQUIRE(cfg.latent_rows() == 10);
  REQUIRE(cfg.time_factor() == 3);

  MusicGanConfig odd = cfg;
  odd.steps_per_bar = 40;
  REQUIRE_THROWS_WITH(odd.validate(), Catch::Contains("steps_per_bar must be a multiple of 16, got 40"));
  odd = cfg;
  odd.bars = 3;
  REQUIRE_THROWS_AS(odd.validate(), OptionError);
  odd = cfg;
  odd.programs = {1, 2};
  REQUIRE_THROWS_WITH(odd.validate(), Catch::Contains("programs must have one entry per track (4), got 2"));
  REQUIRE_THROWS_WITH(MusicGanConfig::from_json(R"({"model": "wavenet"})"), Catch::Contains("not a musicgan"));
  REQUIRE_THROWS_WITH(MusicGanConfig::from_json(R"({"model": "musicgan"})"), Catch::Contains("no field 'tracks'"));

  // The published sizes: the rolls and scores come out in the documented shapes.
  MusicGanConfig small;
  small.tracks = 2;
  small.z_dim = 4;
  small.temporal_channels = 8;
  small.gen_channels = 4;
  small.critic_channels = 2;
  MusicGanGenerator g(small);
  MusicGanCritic d(small);
  Generator rng(3);
  Tensor y = g.forward(g.sample_latents(2, &rng));
  REQUIRE(y.shape() == Shape{2, 2, 4, 48, 84});
  REQUIRE(d.forward(y).shape() == Shape{2, 1});
  REQUIRE_THROWS_WITH(g.forward(Tensor::zeros({2, 5, 4})), Catch::Contains("latents f32[2, 5, 4] should be [B, 6, 4]"));
  REQUIRE_THROWS_WITH(d.forward(Tensor::zeros({2, 3, 4, 48, 84})), Catch::Contains("rolls f32[2, 3, 4, 48, 84] should be [B, 2, 4, 48, 84]"));
}
