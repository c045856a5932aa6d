#include "models/musicgan.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "models/config_json.h"
#include "engine/autograd.h"

namespace cadenza::models {

namespace {

using Dims = std::vector<int64_t>;

constexpr double kSlope = 0.2;  // the critic's LeakyReLU

std::shared_ptr<nn::Module> tconv(int64_t in, int64_t out, const Dims& k, const Dims& s) {
  return std::make_shared<nn::ConvTranspose3d>(in, out, k, s, Dims{0, 0, 0}, Dims{0, 0, 0}, Dims{1, 1, 1});
}

std::shared_ptr<nn::Module> conv(int64_t in, int64_t out, const Dims& k, const Dims& s) {
  return std::make_shared<nn::Conv3d>(in, out, k, s);
}

// A transposed conv with BatchNorm, as every generator layer but the last.
std::shared_ptr<ConvBlock> gen_block(int64_t in, int64_t out, const Dims& k, const Dims& s) {
  return std::make_shared<ConvBlock>(tconv(in, out, k, s), std::make_shared<nn::BatchNorm>(out));
}

Tensor lrelu(const Tensor& x) { return leaky_relu(x, kSlope); }

// `hard` forward (exactly: soft - soft is zero), the gradient of `soft` backward.
Tensor straight_through(const Tensor& hard, const Tensor& soft) { return add(hard.detach(), sub(soft, soft.detach())); }

// A critic conv and, with layer norm on, its ChannelLayerNorm.
std::shared_ptr<ConvBlock> critic_block(const MusicGanConfig& cfg, int64_t in, int64_t out, const Dims& k,
                                        const Dims& s) {
  std::shared_ptr<nn::Module> norm;
  if (cfg.critic_norm == "layer") norm = std::make_shared<ChannelLayerNorm>(out);
  return std::make_shared<ConvBlock>(conv(in, out, k, s), norm, "norm");
}

}  // namespace

// -- config -----------------------------------------------------------------

std::string MusicGanConfig::to_json() const {
  nlohmann::json j = {{"model", "musicgan"},
                      {"tracks", tracks},
                      {"bars", bars},
                      {"steps_per_bar", steps_per_bar},
                      {"pitches", pitches},
                      {"lowest_pitch", lowest_pitch},
                      {"track_names", track_names},
                      {"programs", programs},
                      {"is_drum", is_drum},
                      {"us_per_quarter", us_per_quarter},
                      {"meter_numerator", meter_numerator},
                      {"meter_denominator", meter_denominator},
                      {"track_mode", track_mode},
                      {"z_dim", z_dim},
                      {"temporal_channels", temporal_channels},
                      {"gen_channels", gen_channels},
                      {"critic_channels", critic_channels},
                      {"output", output},
                      {"time_upsample", time_upsample},
                      {"critic_norm", critic_norm}};
  return j.dump();
}

MusicGanConfig MusicGanConfig::from_json(const std::string& text) {
  ConfigJson j(text, "musicgan config", "musicgan", "musicgan");
  MusicGanConfig c;
  j.get("tracks", c.tracks);
  j.get("bars", c.bars);
  j.get("steps_per_bar", c.steps_per_bar);
  j.get("pitches", c.pitches);
  j.get("lowest_pitch", c.lowest_pitch);
  j.get("track_names", c.track_names);
  j.get("programs", c.programs);
  j.get("is_drum", c.is_drum);
  j.get("us_per_quarter", c.us_per_quarter);
  j.get("meter_numerator", c.meter_numerator);
  j.get("meter_denominator", c.meter_denominator);
  j.get("track_mode", c.track_mode);
  j.get("z_dim", c.z_dim);
  j.get("temporal_channels", c.temporal_channels);
  j.get("gen_channels", c.gen_channels);
  j.get("critic_channels", c.critic_channels);
  j.get("output", c.output);
  if (j.has("time_upsample")) j.get("time_upsample", c.time_upsample);  // absent before 2026-12-03: conv
  j.get("critic_norm", c.critic_norm);
  c.validate();
  return c;
}

void MusicGanConfig::validate() const {
  auto bad = [](const char* field, const std::string& what) {
    throw OptionError(field, std::string("musicgan config: ") + field + " " + what);
  };
  auto in_range = [&](const char* field, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      bad(field, "must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + std::to_string(v));
  };
  in_range("tracks", tracks, 1, 16);
  in_range("bars", bars, 2, 64);
  if (bars % 2 != 0) bad("bars", "must be even (the temporal generators double, then stretch), got " +
                                     std::to_string(bars));
  in_range("steps_per_bar", steps_per_bar, 16, 384);
  if (steps_per_bar % 16 != 0) bad("steps_per_bar", "must be a multiple of 16, got " + std::to_string(steps_per_bar));
  if (pitches != 84) bad("pitches", "must be 84 (seven octaves), got " + std::to_string(pitches));
  in_range("lowest_pitch", lowest_pitch, 0, 127 - 84 + 1);
  in_range("z_dim", z_dim, 1, 4096);
  in_range("temporal_channels", temporal_channels, 1, 65536);
  in_range("gen_channels", gen_channels, 2, 4096);
  if (gen_channels % 2 != 0) bad("gen_channels", "must be even, got " + std::to_string(gen_channels));
  in_range("critic_channels", critic_channels, 1, 4096);
  if (track_mode != "order" && track_mode != "program")
    bad("track_mode", "must be order or program, got '" + track_mode + "'");
  if (output != "sigmoid" && output != "tanh" && output != "binary" && output != "voice" && output != "hold")
    bad("output", "must be sigmoid, tanh, binary, voice or hold, got '" + output + "'");
  if (time_upsample != "conv" && time_upsample != "nearest")
    bad("time_upsample", "must be conv or nearest, got '" + time_upsample + "'");
  if (critic_norm != "layer" && critic_norm != "none")
    bad("critic_norm", "must be layer or none, got '" + critic_norm + "'");
  auto sized = [&](const char* field, size_t n) {
    if (n != 0 && static_cast<int64_t>(n) != tracks)
      bad(field, "must have one entry per track (" + std::to_string(tracks) + "), got " + std::to_string(n));
  };
  sized("track_names", track_names.size());
  sized("programs", programs.size());
  sized("is_drum", is_drum.size());
  for (int p : programs)
    if (p < 0 || p > 127) bad("programs", "must each be in 0..127, got " + std::to_string(p));
  in_range("us_per_quarter", us_per_quarter, 1, 16777215);
  in_range("meter_numerator", meter_numerator, 1, 64);
  if (meter_denominator < 1 || meter_denominator > 64 || (meter_denominator & (meter_denominator - 1)) != 0)
    bad("meter_denominator", "must be a power of two up to 64, got " + std::to_string(meter_denominator));
}

// -- building blocks ----------------------------------------------------------

ConvBlock::ConvBlock(std::shared_ptr<nn::Module> c, std::shared_ptr<nn::Module> b, const std::string& norm_name)
    : nn::Module("ConvBlock"), conv(std::move(c)), bn(std::move(b)) {
  register_module("conv", conv);
  if (bn) register_module(norm_name, bn);
}

ChannelLayerNorm::ChannelLayerNorm(int64_t channels, double eps_)
    : nn::Module("ChannelLayerNorm"), eps(eps_) {
  weight = register_parameter("weight", Tensor::ones({channels}));
  bias = register_parameter("bias", Tensor::zeros({channels}));
}

Tensor ChannelLayerNorm::forward(const Tensor& x) {
  if (x.dim() < 2 || x.shape()[1] != weight.shape()[0])
    throw Error("ChannelLayerNorm: input " + x.str() + " should be [B, " + std::to_string(weight.shape()[0]) + ", ...]");
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < x.dim(); ++d) dims.push_back(d);
  Shape stat(static_cast<size_t>(x.dim()), 1);
  stat[1] = x.shape()[1];
  Tensor centred = sub(x, mean(x, dims, true));
  Tensor y = mul(centred, rsqrt(add(mean(mul(centred, centred), dims, true), Tensor::scalar(eps, x.dtype()))));
  return add(mul(y, reshape(weight, stat)), reshape(bias, stat));
}

Tensor ConvBlock::forward(const Tensor& x) {
  Tensor y = conv->forward(x);
  return bn ? bn->forward(y) : y;
}

TemporalGenerator::TemporalGenerator(const MusicGanConfig& cfg) : nn::Module("TemporalGenerator") {
  block0 = register_module("0", gen_block(cfg.z_dim, cfg.temporal_channels, {2, 1, 1}, {2, 1, 1}));
  const int64_t stretch = cfg.bars / 2;
  block1 = register_module("1", gen_block(cfg.temporal_channels, cfg.z_dim, {stretch, 1, 1}, {stretch, 1, 1}));
}

Tensor TemporalGenerator::forward(const Tensor& z) {
  Tensor h = reshape(z, {z.shape()[0], z.shape()[1], 1, 1, 1});
  h = relu(block0->forward(h));
  return relu(block1->forward(h));
}

// -- generator ------------------------------------------------------------------

MusicGanGenerator::MusicGanGenerator(const MusicGanConfig& cfg) : nn::Module("MusicGanGenerator"), config(cfg) {
  cfg.validate();
  const int64_t Z = cfg.z_dim, g = cfg.gen_channels, f = cfg.private_time_factor();
  temporal_shared = register_module("temporal_shared", std::make_shared<TemporalGenerator>(cfg));
  auto tp = register_module("temporal_private", std::make_shared<nn::ModuleDict>());
  for (int64_t i = 0; i < cfg.tracks; ++i)
    temporal_private.push_back(tp->add(std::to_string(i), std::make_shared<TemporalGenerator>(cfg)));
  // (bars, 1, 1) -> (bars, 4, 1) -> (bars, 4, 3) -> (bars, 16, 3) -> (bars, 16, 7)
  auto sh = register_module("shared", std::make_shared<nn::ModuleDict>());
  shared.push_back(sh->add("0", gen_block(4 * Z, 4 * g, {1, 4, 1}, {1, 4, 1})));
  shared.push_back(sh->add("1", gen_block(4 * g, 2 * g, {1, 1, 3}, {1, 1, 3})));
  shared.push_back(sh->add("2", gen_block(2 * g, 2 * g, {1, 4, 1}, {1, 4, 1})));
  shared.push_back(sh->add("3", gen_block(2 * g, g, {1, 1, 3}, {1, 1, 2})));
  auto pv = register_module("private", std::make_shared<nn::ModuleDict>());
  for (int64_t i = 0; i < cfg.tracks; ++i) {
    auto track = pv->add(std::to_string(i), std::make_shared<nn::ModuleDict>());
    Private p;
    auto pt = track->add("pitch_time", std::make_shared<nn::ModuleDict>());
    p.pitch_time.push_back(pt->add("0", gen_block(g, g, {1, 1, 12}, {1, 1, 12})));  // (bars, 16, 84)
    p.pitch_time.push_back(pt->add("1", gen_block(g, g / 2, {1, f, 1}, {1, f, 1})));  // (bars, S, 84)
    auto tpc = track->add("time_pitch", std::make_shared<nn::ModuleDict>());
    p.time_pitch.push_back(tpc->add("0", gen_block(g, g, {1, f, 1}, {1, f, 1})));      // (bars, S, 7)
    p.time_pitch.push_back(tpc->add("1", gen_block(g, g / 2, {1, 1, 12}, {1, 1, 12})));  // (bars, S, 84)
    // A voice output has a second channel: its mean over the pitches is the rest's logit;
    // hold has a third, for the hold class.
    const int64_t heads = cfg.output == "voice" ? 2 : cfg.output == "hold" ? 3 : 1;
    p.merge = track->add("merge", conv(g, heads, {1, 1, 1}, {1, 1, 1}));
    private_.push_back(std::move(p));
  }
}

Tensor MusicGanGenerator::sample_latents(int64_t batch, Generator* gen) const {
  return randn({batch, config.latent_rows(), config.z_dim}, DType::f32, gen);
}

Tensor MusicGanGenerator::forward(const Tensor& z) {
  const MusicGanConfig& c = config;
  if (z.dim() != 3 || z.shape()[1] != c.latent_rows() || z.shape()[2] != c.z_dim)
    throw Error("MusicGAN generator: latents " + z.str() + " should be [B, " + std::to_string(c.latent_rows()) +
                ", " + std::to_string(c.z_dim) + "] (inter, inter_temporal, then intra and intra_temporal per track)");
  const int64_t B = z.shape()[0], Z = c.z_dim, T = c.tracks;
  auto constant = [&](int64_t row) {
    return expand(reshape(select(z, 1, row), {B, Z, 1, 1, 1}), {B, Z, c.bars, 1, 1});
  };
  Tensor inter = constant(0);
  Tensor inter_t = temporal_shared->forward(select(z, 1, 1));
  std::vector<Tensor> per_track;
  for (int64_t i = 0; i < T; ++i) {
    Tensor intra_t = temporal_private[i]->forward(select(z, 1, 2 + T + i));
    per_track.push_back(concat({inter, inter_t, constant(2 + i), intra_t}, 1));
  }
  // The trunk sees every track's bar latents as one batch: [T * B, 4Z, bars, 1, 1].
  Tensor h = concat(per_track, 0);
  for (auto& block : shared) h = relu(block->forward(h));
  std::vector<Tensor> outs;
  for (int64_t i = 0; i < T; ++i) {
    const Private& p = private_[i];
    Tensor hi = narrow(h, 0, i * B, B);
    Tensor pt = relu(p.pitch_time[1]->forward(relu(p.pitch_time[0]->forward(hi))));
    Tensor tp = relu(p.time_pitch[1]->forward(relu(p.time_pitch[0]->forward(hi))));
    outs.push_back(p.merge->forward(concat({pt, tp}, 1)));  // [B, 1 to 3, bars, S, P]
  }
  // Nearest upsampling, last: [B, T, bars, 16, P] -> each 16th held for time_factor() steps.
  auto upsampled = [&](const Tensor& y) {
    if (c.time_upsample != "nearest") return y;
    const Shape s = y.shape();
    const int64_t f = c.time_factor();
    return reshape(expand(reshape(y, {s[0], s[1], s[2], s[3], 1, s[4]}), {s[0], s[1], s[2], s[3], f, s[4]}),
                   {s[0], s[1], s[2], s[3] * f, s[4]});
  };
  if (c.output == "voice" || c.output == "hold") {
    // Per track and step, a softmax over the pitches, a rest (and for hold,
    // "hold": the previous step's note or rest goes on); the extra classes'
    // logits are their channels' means over the pitches. Forward the one-hot
    // of its maximum, backward the softmax's gradient (straight through).
    const int64_t extra = c.output == "hold" ? 2 : 1;
    for (Tensor& o : outs) {
      std::vector<Tensor> cols{narrow(o, 1, 0, 1)};
      for (int64_t k = 1; k <= extra; ++k) cols.push_back(mean(narrow(o, 1, k, 1), {4}, true));
      o = concat(cols, 4);
    }
    Tensor p = softmax(concat(outs, 1), 4);  // [B, T, bars, S, P + extra]
    // The first maximum alone, so a tie (an untrained model's equal logits) still sounds one pitch.
    const int64_t K = c.pitches + extra;
    Tensor classes = reshape(Tensor::arange(K).to(p.device()), {1, 1, 1, 1, K});
    Tensor hard = to_dtype(eq(expand(argmax(p, 4, true), p.shape()), expand(classes, p.shape())), p.dtype());
    if (c.output == "voice") return upsampled(narrow(straight_through(hard, p), 4, 0, c.pitches));
    // hold: through the segment's steps, state = hold * state + (pitches, rest),
    // from a rest; the hard state forward, the soft one's gradient backward.
    const Shape s = p.shape();
    const int64_t N = c.pitches + 1, L = s[2] * s[3];
    Tensor pf = reshape(p, {s[0], s[1], L, K}), hf = reshape(hard, {s[0], s[1], L, K});
    Tensor rest = concat({Tensor::zeros({s[0], s[1], c.pitches}, p.dtype(), p.device()),
                          Tensor::ones({s[0], s[1], 1}, p.dtype(), p.device())}, 2);
    Tensor soft_state = rest, hard_state = rest;
    std::vector<Tensor> soft_steps, hard_steps;
    for (int64_t t = 0; t < L; ++t) {
      Tensor ps = select(pf, 2, t), hs = select(hf, 2, t);  // [B, T, K]
      soft_state = add(mul(narrow(ps, 2, N, 1), soft_state), narrow(ps, 2, 0, N));
      hard_state = add(mul(narrow(hs, 2, N, 1), hard_state), narrow(hs, 2, 0, N));
      soft_steps.push_back(soft_state);
      hard_steps.push_back(hard_state);
    }
    Tensor soft = reshape(stack(soft_steps, 2), {s[0], s[1], s[2], s[3], N});
    Tensor hard_roll = reshape(stack(hard_steps, 2), {s[0], s[1], s[2], s[3], N});
    return upsampled(narrow(straight_through(hard_roll, soft), 4, 0, c.pitches));
  }
  Tensor y = concat(outs, 1);
  if (c.output == "tanh") return upsampled(tanh(y));
  Tensor s = sigmoid(y);
  if (c.output == "binary")
    return upsampled(straight_through(to_dtype(gt(s, Tensor::scalar(0.5, s.dtype())), s.dtype()), s));
  return upsampled(s);
}

// -- critic ---------------------------------------------------------------------

MusicGanCritic::MusicGanCritic(const MusicGanConfig& cfg) : nn::Module("MusicGanCritic"), config(cfg) {
  cfg.validate();
  const int64_t d = cfg.critic_channels, f = cfg.time_factor(), T = cfg.tracks;
  auto pv = register_module("private", std::make_shared<nn::ModuleDict>());
  for (int64_t i = 0; i < T; ++i) {
    auto track = pv->add(std::to_string(i), std::make_shared<nn::ModuleDict>());
    Private p;
    auto pt = track->add("pitch_time", std::make_shared<nn::ModuleDict>());
    p.pitch_time.push_back(pt->add("0", critic_block(cfg, 1, d, {1, 1, 12}, {1, 1, 12})));    // (bars, S, 7)
    p.pitch_time.push_back(pt->add("1", critic_block(cfg, d, 2 * d, {1, f, 1}, {1, f, 1})));  // (bars, 16, 7)
    auto tp = track->add("time_pitch", std::make_shared<nn::ModuleDict>());
    p.time_pitch.push_back(tp->add("0", critic_block(cfg, 1, d, {1, f, 1}, {1, f, 1})));          // (bars, 16, 84)
    p.time_pitch.push_back(tp->add("1", critic_block(cfg, d, 2 * d, {1, 1, 12}, {1, 1, 12})));  // (bars, 16, 7)
    p.merge = track->add("merge", critic_block(cfg, 4 * d, 4 * d, {1, 1, 1}, {1, 1, 1}));
    private_.push_back(std::move(p));
  }
  auto sh = register_module("shared", std::make_shared<nn::ModuleDict>());
  shared.push_back(sh->add("0", critic_block(cfg, 4 * d * T, 8 * d, {1, 4, 3}, {1, 4, 2})));  // (bars, 4, 3)
  shared.push_back(sh->add("1", critic_block(cfg, 8 * d, 16 * d, {1, 4, 3}, {1, 4, 3})));     // (bars, 1, 1)
  auto ch = register_module("chroma", std::make_shared<nn::ModuleDict>());
  chroma.push_back(ch->add("0", critic_block(cfg, T, 4 * d, {1, 1, 12}, {1, 1, 12})));      // (bars, S, 1)
  chroma.push_back(ch->add("1", critic_block(cfg, 4 * d, 8 * d, {1, f, 1}, {1, f, 1})));    // (bars, 16, 1)
  chroma.push_back(ch->add("2", critic_block(cfg, 8 * d, 8 * d, {1, 16, 1}, {1, 16, 1})));  // (bars, 1, 1)
  auto on = register_module("onset", std::make_shared<nn::ModuleDict>());
  onset.push_back(on->add("0", critic_block(cfg, T, 4 * d, {1, f, 1}, {1, f, 1})));        // (bars, 16, 1)
  onset.push_back(on->add("1", critic_block(cfg, 4 * d, 8 * d, {1, 4, 1}, {1, 4, 1})));    // (bars, 4, 1)
  onset.push_back(on->add("2", critic_block(cfg, 8 * d, 8 * d, {1, 4, 1}, {1, 4, 1})));    // (bars, 1, 1)
  merged = register_module("merged", critic_block(cfg, 32 * d, 32 * d, {2, 1, 1}, {1, 1, 1}));  // (bars - 1, 1, 1)
  dense = register_module("dense", std::make_shared<nn::Linear>(32 * d * (cfg.bars - 1), 1));
}

Tensor MusicGanCritic::forward(const Tensor& x) {
  const MusicGanConfig& c = config;
  const Shape want{c.tracks, c.bars, c.steps_per_bar, c.pitches};
  if (x.dim() != 5 || !std::equal(want.begin(), want.end(), x.shape().begin() + 1))
    throw Error("MusicGAN critic: rolls " + x.str() + " should be [B, " + std::to_string(c.tracks) + ", " +
                std::to_string(c.bars) + ", " + std::to_string(c.steps_per_bar) + ", " + std::to_string(c.pitches) +
                "] (tracks, bars, steps per bar, pitches)");
  const int64_t B = x.shape()[0], T = c.tracks, S = c.steps_per_bar;
  std::vector<Tensor> tracks;
  for (int64_t i = 0; i < T; ++i) {
    const Private& p = private_[i];
    Tensor xi = narrow(x, 1, i, 1);
    Tensor pt = lrelu(p.pitch_time[1]->forward(lrelu(p.pitch_time[0]->forward(xi))));
    Tensor tp = lrelu(p.time_pitch[1]->forward(lrelu(p.time_pitch[0]->forward(xi))));
    tracks.push_back(lrelu(p.merge->forward(concat({pt, tp}, 1))));
  }
  Tensor h = concat(tracks, 1);
  for (auto& m : shared) h = lrelu(m->forward(h));
  // Pitch classes: the seven octaves summed.
  Tensor cr = sum(reshape(x, {B, T, c.bars, S, c.pitches / 12, 12}), {4});
  for (auto& m : chroma) cr = lrelu(m->forward(cr));
  // Onsets: the rise of each step over the one before, summed over pitch.
  Tensor rise = sub(narrow(x, 3, 1, S - 1), narrow(x, 3, 0, S - 1));
  Tensor on = sum(concat({narrow(x, 3, 0, 1), rise}, 3), {4}, true);
  for (auto& m : onset) on = lrelu(m->forward(on));
  Tensor m = lrelu(merged->forward(concat({h, cr, on}, 1)));
  return dense->forward(reshape(m, {B, -1}));
}

// -- WGAN-GP ----------------------------------------------------------------------

Tensor gradient_penalty(MusicGanCritic& critic, const Tensor& real, const Tensor& fake, const Tensor& eps) {
  Tensor x_hat = add(mul(eps, real.detach()), mul(sub(Tensor::scalar(1.0, eps.dtype()), eps), fake.detach())).detach();
  x_hat.requires_grad_(true);
  Tensor d = critic.forward(x_hat);
  Tensor g = grad({sum(d)}, {x_hat}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  // A tiny floor keeps the norm's gradient finite where the input gradient vanishes.
  Tensor norm = sqrt(add(sum(mul(g, g), {1, 2, 3, 4}), Tensor::scalar(1e-12, g.dtype())));
  Tensor dev = sub(norm, Tensor::scalar(1.0, norm.dtype()));
  return mean(mul(dev, dev));
}

CriticLoss critic_loss(MusicGanCritic& critic, const Tensor& real, const Tensor& fake, const Tensor& eps,
                       double lambda) {
  Tensor d_real = mean(critic.forward(real));
  Tensor d_fake = mean(critic.forward(fake.detach()));
  Tensor gp = gradient_penalty(critic, real, fake, eps);
  CriticLoss out;
  out.loss = add(sub(d_fake, d_real), mul(gp, Tensor::scalar(lambda, gp.dtype())));
  out.wasserstein = sub(d_real, d_fake).detach();
  out.penalty = gp.detach();
  return out;
}

}  // namespace cadenza::models
