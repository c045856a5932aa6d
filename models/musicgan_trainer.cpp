#include "models/musicgan_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/autograd.h"
#include "midi/roll_image.h"
#include "models/trainer_io.h"

namespace cadenza::models {

namespace {

const char* kMusicGanFormat = "cadenza.musicgan.v1";

// Random segment indices of a split.
std::vector<int64_t> draw_indices(int64_t n, int64_t count, Generator& g) {
  Tensor t = randint(0, n, {count}, &g);
  const int64_t* p = t.data<int64_t>();
  return std::vector<int64_t>(p, p + count);
}

void set_requires_grad(nn::Module& m, bool on) {
  for (Tensor p : m.parameters()) p.requires_grad_(on);
}

class MusicGanTask : public TrainTask {
 public:
  MusicGanTask(const MusicGanConfig& cfg, const MultitrackCorpus& data, MusicGanTrainOptions& o)
      : cfg_(cfg), data_(data), o_(o) {}

  LoopOptions& options() override { return o_; }
  std::string format() const override { return kMusicGanFormat; }
  std::string config_json() const override { return cfg_.to_json(); }
  std::vector<OptionField> option_fields() override {
    return {{"batch", &o_.batch},
            {"critic_steps", &o_.critic_steps},
            {"gp_lambda", &o_.gp_lambda},
            {"beta1", &o_.beta1},
            {"beta2", &o_.beta2},
            {"eval_samples", &o_.eval_samples},
            {"data_samples", &o_.data_samples}};
  }
  void config_from_json(const std::string& json) override {
    MusicGanConfig saved = MusicGanConfig::from_json(json);
    if (saved.tracks != cfg_.tracks || saved.bars != cfg_.bars || saved.steps_per_bar != cfg_.steps_per_bar ||
        saved.lowest_pitch != cfg_.lowest_pitch)
      throw Error("the run was trained on rolls of " + std::to_string(saved.tracks) + " tracks x " +
                  std::to_string(saved.bars) + " bars x " + std::to_string(saved.steps_per_bar) +
                  " steps, not on this data's " + std::to_string(cfg_.tracks) + " x " + std::to_string(cfg_.bars) +
                  " x " + std::to_string(cfg_.steps_per_bar) + "; resume with the same data and --bars/--steps-per-bar");
    // BinaryMuseGAN's two-stage training: a sigmoid run continues with
    // binary neurons (or back); the parameters are the same.
    if (o_.given.count("output") && cfg_.output != saved.output) {
      auto switchable = [](const std::string& o) { return o == "sigmoid" || o == "binary"; };
      if (!switchable(saved.output) || !switchable(cfg_.output))
        throw OptionError("output", "the run was trained with a " + saved.output + " output; it can continue with " +
                                        (switchable(saved.output) ? "sigmoid or binary" : "that output") +
                                        " only, not " + cfg_.output);
      saved.output = cfg_.output;
    }
    cfg_ = saved;
  }
  std::set<std::string> resume_reads() const override {
    std::set<std::string> r = {"tracks", "bars", "steps_per_bar", "lowest_pitch"};
    if (o_.given.count("output")) r.insert("output");
    return r;
  }

  void build(bool fresh) override {
    (void)fresh;
    rng_ = std::make_unique<Generator>(o_.seed * 0x9E3779B97F4A7C15ull + 5);
    generator_ = std::make_unique<MusicGanGenerator>(cfg_);
    critic_ = std::make_unique<MusicGanCritic>(cfg_);
    opt_g_ = std::make_unique<optim::Adam>(generator_->parameters(), o_.lr, o_.beta1, o_.beta2);
    opt_d_ = std::make_unique<optim::Adam>(critic_->parameters(), o_.lr, o_.beta1, o_.beta2);
    // What evaluations compare: fixed latents, fixed held-out segments, and
    // the metrics of a fixed sample of the training data.
    Generator g(o_.seed + 77);
    eval_z_ = generator_->sample_latents(o_.eval_samples, &g);
    const int64_t nd = std::min(o_.data_samples, data_.train_size());
    data_metrics_ = musegan_metrics(data_.batch(false, draw_indices(data_.train_size(), nd, g)), cfg_.is_drum,
                                    cfg_.lowest_pitch, cfg_.steps_per_bar);
    if (data_.valid_size() > 0)
      valid_ = critic_input(
          data_.batch(true, draw_indices(data_.valid_size(), std::min<int64_t>(o_.batch, data_.valid_size()), g)));
  }
  std::vector<std::pair<std::string, nn::Module*>> modules() override {
    return {{"generator.", generator_.get()}, {"critic.", critic_.get()}};
  }
  std::vector<std::pair<std::string, optim::Optimizer*>> optimizers() override {
    return {{"optim.generator.", opt_g_.get()}, {"optim.critic.", opt_d_.get()}};
  }
  void save_state(NamedTensors& tensors, Metadata&) const override { tensors.emplace_back("trainer.rng", rng_->state()); }
  void load_state(const LoadedTensors& ck) override { rng_->set_state(ck.at("trainer.rng")); }
  void moved_to(Device device) override {
    eval_z_ = eval_z_.to(device);
    if (valid_.defined()) valid_ = valid_.to(device);
  }

  StepOutcome train_step(const StepContext& ctx) override {
    // Every rank draws the global batch (world x batch segments, latents and
    // mixing weights) from the shared generator and keeps its own slice.
    const int64_t B = o_.batch, W = o_.world(), first = B * o_.rank();
    auto mine = [&](const Tensor& global) { return W == 1 ? global : contiguous(narrow(global, 0, first, B)); };
    // The step's figures add up on the device and come back in one read at
    // its end: on a GPU a read per critic step would wait for the device
    // each time.
    Tensor d_loss, wasserstein, penalty;
    auto accumulate = [](Tensor& total, const Tensor& x) { total = total.defined() ? add(total, x) : x; };
    for (int64_t k = 0; k < o_.critic_steps; ++k) {
      std::vector<int64_t> idx = draw_indices(data_.train_size(), B * W, *rng_);
      idx = std::vector<int64_t>(idx.begin() + first, idx.begin() + first + B);
      Tensor real = critic_input(data_.batch(false, idx)).to(o_.device);
      Tensor fake;
      {
        NoGradGuard ng;
        fake = generator_->forward(mine(generator_->sample_latents(B * W, rng_.get())).to(o_.device));
      }
      Tensor eps = mine(rand({B * W, 1, 1, 1, 1}, DType::f32, rng_.get())).to(o_.device);
      CriticLoss cl = critic_loss(*critic_, real, fake, eps, o_.gp_lambda);
      ctx.update(*opt_d_, cl.loss);
      accumulate(d_loss, cl.loss.detach());
      accumulate(wasserstein, cl.wasserstein);
      accumulate(penalty, cl.penalty);
    }
    const double n = static_cast<double>(std::max<int64_t>(1, o_.critic_steps));
    // The generator's update: the critic's weights need no gradient here.
    set_requires_grad(*critic_, false);
    Tensor g_loss;
    try {
      g_loss = neg(mean(
          critic_->forward(generator_->forward(mine(generator_->sample_latents(B * W, rng_.get())).to(o_.device)))));
      ctx.update(*opt_g_, g_loss);
    } catch (...) {
      set_requires_grad(*critic_, true);
      throw;
    }
    set_requires_grad(*critic_, true);
    std::vector<Tensor> figures = {g_loss.detach()};
    if (o_.critic_steps > 0) figures.insert(figures.begin(), {d_loss, wasserstein, penalty});
    const std::vector<double> v = to_dtype(stack(figures, 0), DType::f64).to(Device{}).to_vector<double>();
    const double d = o_.critic_steps > 0 ? v[0] : 0, w = o_.critic_steps > 0 ? v[1] : 0,
                 p = o_.critic_steps > 0 ? v[2] : 0;
    return {d / n, 1.0, B * (o_.critic_steps + 1), {{"wasserstein", w / n}, {"gradient_penalty", p / n}, {"g_loss", v.back()}}};
  }

  // On rank 0 alone (the loop hands its figure to every rank): the
  // metrics need the whole sample, and it is small.
  double evaluate() override {
    if (o_.rank() != 0) return 0;
    NoGradGuard ng;
    generator_->eval();
    Tensor y = generator_->forward(eval_z_);
    Tensor rolls = binarize_rolls(y, cfg_).to(Device{});  // the metrics read the rolls on the host
    sample_metrics_ = musegan_metrics(rolls, cfg_.is_drum, cfg_.lowest_pitch, cfg_.steps_per_bar);
    first_sample_ = contiguous(select(rolls, 0, 0));
    double total = 0;
    int64_t tracks = 0;
    for (int64_t t = 0; t < cfg_.tracks; ++t) {
      if (!cfg_.is_drum.empty() && cfg_.is_drum[t]) continue;
      total += 0.5 * (relative_distance(data_metrics_.qn[t], sample_metrics_.qn[t]) +
                      relative_distance(data_metrics_.upc[t], sample_metrics_.upc[t]));
      ++tracks;
    }
    valid_wasserstein_ = std::nan("");
    if (valid_.defined()) {
      Tensor fake = narrow(y, 0, 0, std::min(y.shape()[0], valid_.shape()[0]));
      valid_wasserstein_ = mean(critic_->forward(valid_)).item() - mean(critic_->forward(fake)).item();
    }
    // A run whose samples are all silent has no UPC or QN: score it as far off.
    return tracks > 0 && std::isfinite(total) ? total / static_cast<double>(tracks) : 1.0;
  }
  void train_mode() override {
    generator_->train();
    critic_->train();
  }
  void on_evaluated(SummaryWriter& tb, int64_t step) override {
    for (int64_t t = 0; t < cfg_.tracks; ++t) {
      const std::string name = cfg_.track_names.empty() ? std::to_string(t) : cfg_.track_names[t];
      tb.add_scalar("samples/EB/" + name, sample_metrics_.eb[t], step);
      tb.add_scalar("samples/UPC/" + name, sample_metrics_.upc[t], step);
      tb.add_scalar("samples/QN/" + name, sample_metrics_.qn[t], step);
      tb.add_scalar("samples/NL/" + name, sample_metrics_.nl[t], step);
    }
    // A silent sample has nothing to draw.
    if (sum(first_sample_).item() > 0) tb.add_image("samples/roll", roll_picture(first_sample_, cfg_), step);
  }

  LogSpec log_spec() const override {
    LogSpec s{"cadenza musicgan training", "critic loss", "segments_per_s", "segments/s",
              {"step", "loss", "wasserstein", "gradient_penalty", "g_loss", "lr", "val_nll", "val_wasserstein",
               "segments_per_s", "elapsed_s"}};
    s.loss_label = "critic loss";
    return s;
  }
  std::string format_val(double val, double best) const override {
    char buf[128];
    std::snprintf(buf, sizeof buf, "metric distance %.3f (best %.3f)", val, std::min(val, best));
    return buf;
  }
  std::vector<std::pair<std::string, double>> eval_cells(double) const override {
    return {{"val_wasserstein", valid_wasserstein_}};
  }
  std::vector<std::pair<std::string, double>> eval_scalars(double val) const override {
    return {{"valid/metric_distance", val}, {"valid/wasserstein", valid_wasserstein_}};
  }

 private:
  // Rolls of 0/1 as the critic sees real data: in the generator's range,
  // [0, 1] for a sigmoid output and [-1, 1] for tanh.
  Tensor critic_input(const Tensor& roll) const {
    return cfg_.output == "tanh" ? sub(mul(roll, Tensor::scalar(2.0)), Tensor::scalar(1.0)) : roll;
  }

  MusicGanConfig cfg_;
  const MultitrackCorpus& data_;
  MusicGanTrainOptions& o_;
  std::unique_ptr<Generator> rng_;
  std::unique_ptr<MusicGanGenerator> generator_;
  std::unique_ptr<MusicGanCritic> critic_;
  std::unique_ptr<optim::Adam> opt_g_, opt_d_;
  Tensor eval_z_, valid_, first_sample_;
  MusicMetrics data_metrics_, sample_metrics_;
  double valid_wasserstein_ = 0;
};

}  // namespace

TrainResult train_musicgan(const MusicGanConfig& cfg, const MultitrackCorpus& data, MusicGanTrainOptions o) {
  cfg.validate();
  if (data.train_size() == 0) throw Error("train musicgan: no training segments");
  auto positive = [](const char* name, int64_t v) {
    if (v <= 0) throw OptionError(name, std::string(name) + " must be positive, got " + std::to_string(v));
  };
  positive("batch", o.batch);
  positive("eval_samples", o.eval_samples);
  positive("data_samples", o.data_samples);
  if (o.critic_steps < 0)
    throw OptionError("critic_steps", "critic_steps must be >= 0, got " + std::to_string(o.critic_steps));
  if (!(o.gp_lambda >= 0)) throw OptionError("gp_lambda", "gp_lambda must be >= 0");
  for (auto [name, b] : {std::pair<const char*, double>{"beta1", o.beta1}, {"beta2", o.beta2}})
    if (!(b >= 0 && b < 1)) throw OptionError(name, std::string(name) + " must be in [0, 1), got " + std::to_string(b));
  MusicGanTask task(cfg, data, o);
  return run_training(task);
}

MusicGanCheckpoint load_musicgan(const std::string& path) {
  LoadedTensors ck = load_safetensors(path);
  std::string json = checkpoint_config_json(ck, kMusicGanFormat, "musicgan", true);
  MusicGanCheckpoint out;
  try {
    out.config = MusicGanConfig::from_json(json);
  } catch (const Error& e) {
    throw Error("'" + path + "': " + e.what());
  }
  out.generator = std::make_unique<MusicGanGenerator>(out.config);
  out.critic = std::make_unique<MusicGanCritic>(out.config);
  load_model_tensors(*out.generator, ck, "generator.");
  load_model_tensors(*out.critic, ck, "critic.");
  out.generator->eval();
  out.critic->eval();
  return out;
}

Tensor generator_output(MusicGanGenerator& g, const Tensor& z) {
  NoGradGuard ng;
  bool was_training = g.is_training();
  g.eval();
  Tensor y;
  try {
    y = g.forward(z);
  } catch (...) {
    if (was_training) g.train();
    throw;
  }
  if (was_training) g.train();
  return y;
}

Tensor binarize_rolls(const Tensor& y, const MusicGanConfig& cfg, double threshold, bool bernoulli_draw,
                      Generator* rng) {
  NoGradGuard ng;
  const bool is_tanh = cfg.output == "tanh";
  if (bernoulli_draw) {
    Tensor p = is_tanh ? mul(add(y, Tensor::scalar(1.0)), Tensor::scalar(0.5)) : y;
    return bernoulli(clamp(p, 0.0, 1.0), rng);
  }
  if (threshold < 0) threshold = is_tanh ? 0.0 : 0.5;
  return to_dtype(gt(y, Tensor::scalar(threshold)), DType::f32);
}

Tensor generate_rolls(MusicGanGenerator& g, int64_t count, Generator& rng, double threshold, bool bernoulli_draw) {
  if (count < 1) throw OptionError("count", "count must be positive, got " + std::to_string(count));
  Tensor y = generator_output(g, g.sample_latents(count, &rng));
  return binarize_rolls(y, g.config, threshold, bernoulli_draw, &rng);
}

MultitrackOptions data_options(const MusicGanConfig& cfg) {
  MultitrackOptions o;
  o.bars = cfg.bars;
  o.steps_per_bar = cfg.steps_per_bar;
  o.lowest_pitch = cfg.lowest_pitch;
  o.pitches = cfg.pitches;
  o.meter_numerator = cfg.meter_numerator;
  o.meter_denominator = cfg.meter_denominator;
  o.tracks = cfg.track_mode;
  return o;
}

midi::Score roll_score(const Tensor& roll, const MusicGanConfig& cfg) {
  MultitrackMeta m;
  for (int64_t t = 0; t < cfg.tracks; ++t) {
    const size_t i = static_cast<size_t>(t);
    m.track_names.push_back(i < cfg.track_names.size() ? cfg.track_names[i] : "Track " + std::to_string(t + 1));
    m.programs.push_back(i < cfg.programs.size() ? cfg.programs[i] : 0);
    m.is_drum.push_back(i < cfg.is_drum.size() && cfg.is_drum[i]);
  }
  m.us_per_quarter = cfg.us_per_quarter;
  m.lowest_pitch = cfg.lowest_pitch;
  m.meter_numerator = cfg.meter_numerator;
  m.meter_denominator = cfg.meter_denominator;
  return multitrack_to_score(roll, m, 0.5f);
}

png::Image roll_picture(const Tensor& roll, const MusicGanConfig& cfg) {
  midi::RollImageOptions io;
  io.width = 800;
  io.row = 3;
  io.split_channels = false;
  return midi::draw_roll(roll_score(roll, cfg), io);
}

}  // namespace cadenza::models
