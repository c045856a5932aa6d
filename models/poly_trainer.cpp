#include "models/poly_trainer.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "engine/file_io.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "models/trainer_io.h"

namespace cadenza::models {

PolyRecipe poly_recipe(const std::string& name) {
  auto has = [&](const char* k) { return name.find(k) != std::string::npos; };
  PolyRecipe r;  // JSB Chorales' recipe: test NLL 8.17 (POLYPHONIC.md)
  if (has("jsb")) {
    r.dataset = "jsb_chorales";
    r.frame_beats = 1.0;  // a JSB frame is a quarter note
  } else if (has("nottingham")) {
    r.dataset = "nottingham";  // best epoch 19 of 30
    r.layers = 3, r.hidden = 280, r.batch = 8, r.lr = 4e-3, r.epochs = 30, r.patience = 10, r.transpose = 0;
  } else if (has("muse")) {
    r.dataset = "musedata";  // transposition made validation clearly worse here
    r.layers = 3, r.hidden = 280, r.batch = 8, r.lr = 4e-3, r.epochs = 20, r.patience = 5, r.transpose = 0;
  } else if (has("piano")) {
    r.dataset = "piano_midi";
    r.epochs = 100, r.patience = 30;
  } else {
    r.dataset = "default";
  }
  return r;
}

std::vector<float> key_log_odds(const std::vector<PolyPiece>& pieces) {
  std::vector<double> on(kPolyKeys, 0);
  int64_t frames = 0;
  for (const PolyPiece& p : pieces)
    for (int64_t t = 1; t < p.frames; ++t) {
      for (int64_t k = 0; k < kPolyKeys; ++k) on[k] += p.keys[t * kPolyKeys + k];
      ++frames;
    }
  std::vector<float> out(kPolyKeys, 0.f);
  if (frames == 0) return out;
  for (int64_t k = 0; k < kPolyKeys; ++k) {
    double q = std::clamp(on[k] / static_cast<double>(frames), 1e-4, 1 - 1e-4);
    out[k] = static_cast<float>(std::log(q / (1 - q)));
  }
  return out;
}

std::vector<int> poly_epoch_shifts(const std::vector<PolyPiece>& pieces, int max_shift, uint64_t seed,
                                   int64_t epoch) {
  std::vector<int> out(pieces.size(), 0);
  if (max_shift <= 0) return out;
  Generator g(seed * 0xBF58476D1CE4E5B9ull + static_cast<uint64_t>(epoch) * 0x94D049BB133111EBull + 7);
  for (size_t i = 0; i < pieces.size(); ++i) {
    double u = uniform_double(&g);  // drawn for every piece, so one piece's range never shifts another's
    auto [lo, hi] = key_range(pieces[i]);
    if (lo < 0) continue;
    int a = std::max(-max_shift, -lo), b = std::min(max_shift, static_cast<int>(kPolyKeys) - 1 - hi);
    out[i] = a + std::min(b - a, static_cast<int>(u * (b - a + 1)));
  }
  return out;
}

std::vector<std::vector<int64_t>> poly_epoch_batches(const std::vector<PolyPiece>& pieces, int64_t batch,
                                                     uint64_t seed, int64_t epoch) {
  if (batch <= 0) throw Error("poly_epoch_batches: batch must be positive");
  Generator g(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
  std::vector<int64_t> order = randperm(static_cast<int64_t>(pieces.size()), &g);
  const size_t window = static_cast<size_t>(batch) * 16;
  for (size_t w = 0; w < order.size(); w += window) {
    auto b = order.begin() + w, e = order.begin() + std::min(order.size(), w + window);
    std::stable_sort(b, e, [&](int64_t x, int64_t y) { return pieces[x].frames < pieces[y].frames; });
  }
  std::vector<std::vector<int64_t>> batches;
  for (size_t i = 0; i < order.size(); i += batch)
    batches.emplace_back(order.begin() + i, order.begin() + std::min(order.size(), i + batch));
  std::vector<int64_t> perm = randperm(static_cast<int64_t>(batches.size()), &g);
  std::vector<std::vector<int64_t>> out;
  out.reserve(batches.size());
  for (int64_t i : perm) out.push_back(std::move(batches[i]));
  return out;
}

namespace {

// The summed NLL and frame count of the groups of 16 that fall to `rank` of
// `world` (groups dealt in turn).
std::pair<double, int64_t> poly_nll_sum(PolyModel& model, const std::vector<PolyPiece>& pieces, int rank,
                                        int world) {
  NoGradGuard ng;
  bool was_training = model.is_training();
  model.eval();
  // Pieces of similar length run together; the result does not depend on the
  // grouping, since padding comes after each piece and is masked.
  std::vector<int64_t> order;
  for (int64_t i = 0; i < static_cast<int64_t>(pieces.size()); ++i)
    if (pieces[i].predicted() > 0) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return pieces[a].frames < pieces[b].frames; });
  double total = 0;
  int64_t frames = 0;
  const size_t group = 16;
  const Device d = model.parameters().at(0).device();  // the batches follow the model
  for (size_t g0 = 0; g0 < order.size(); g0 += group) {
    if (static_cast<int>((g0 / group) % static_cast<size_t>(world)) != rank) continue;
    std::vector<int64_t> idx(order.begin() + g0, order.begin() + std::min(order.size(), g0 + group));
    PolyBatch b = make_poly_batch(pieces, idx);
    Tensor logits = model.forward_frames(b.input.to(d));
    Tensor l = poly_frame_nll_sum(to_dtype(logits, DType::f64), to_dtype(b.target.to(d), DType::f64),
                                  to_dtype(b.mask.to(d), DType::f64));
    total += l.item();
    frames += b.frames;
  }
  if (was_training) model.train();
  return {total, frames};
}

double poly_nll_mean(double total, int64_t frames, int64_t* frames_out) {
  if (frames_out) *frames_out = frames;
  if (frames == 0) throw Error("evaluate_poly: no frames to predict (every piece is shorter than 2 frames)");
  return total / static_cast<double>(frames);
}

}  // namespace

double evaluate_poly(PolyModel& model, const std::vector<PolyPiece>& pieces, int64_t* frames_out) {
  auto [total, frames] = poly_nll_sum(model, pieces, 0, 1);
  return poly_nll_mean(total, frames, frames_out);
}

std::vector<uint8_t> sample_poly(PolyModel& model, int64_t frames, const std::vector<int>& primer,
                                 double temperature, const std::function<double()>& uniform) {
  if (frames <= 0) throw Error("sample_poly: frames must be positive");
  if (!(temperature > 0)) throw Error("sample_poly: temperature must be positive");
  NoGradGuard ng;
  bool was_training = model.is_training();
  model.eval();
  const int64_t K = kPolyKeys;
  std::vector<uint8_t> out(static_cast<size_t>(frames * K), 0);
  for (int p : primer) {
    if (p < kPolyLowPitch || p >= kPolyLowPitch + K)
      throw Error("sample_poly: primer note " + std::to_string(p) + " is outside the piano's 21..108");
    out[p - kPolyLowPitch] = 1;
  }
  // On a device (Module::to) each frame goes there and its logits come back.
  const Device device = model.parameters().at(0).device();
  RecurrentState state;
  Tensor x = Tensor::zeros({1, 1, K});
  for (int64_t t = 1; t < frames; ++t) {
    float* px = x.data<float>();
    for (int64_t k = 0; k < K; ++k) px[k] = out[(t - 1) * K + k];
    Tensor logits = model.forward_frames(x.to(device), &state).to(Device{}).contiguous();
    const float* pl = logits.data<float>();
    for (int64_t k = 0; k < K; ++k) {
      double p = 1.0 / (1.0 + std::exp(-static_cast<double>(pl[k]) / temperature));
      out[t * K + k] = uniform() < p ? 1 : 0;
    }
  }
  if (was_training) model.train();
  return out;
}

namespace {

const char* kFormat = "cadenza.poly_model.v1";

}  // namespace

std::unique_ptr<PolyModel> load_poly_model(const std::string& path) {
  return load_checkpoint_model<PolyModel>(path, kFormat, "poly model", true);
}

namespace {

// The piano-roll model as a task of the training loop: whole pieces from a
// zero state, batched per epoch.
class PolyTask : public TrainTask {
 public:
  PolyTask(const PolyModelConfig& cfg, const PolyDataset& data, PolyTrainOptions& o)
      : cfg_(cfg), data_(data), o_(o) {}

  LoopOptions& options() override { return o_; }
  std::string format() const override { return kFormat; }
  std::string config_json() const override { return cfg_.to_json(); }
  std::vector<OptionField> option_fields() override {
    return {{"batch", &o_.batch}, {"transpose", &o_.transpose}, {"marginal_bias", &o_.marginal_bias}};
  }
  void config_from_json(const std::string& json) override { cfg_ = PolyModelConfig::from_json(json); }
  int64_t steps_per_epoch() const override {
    const int64_t global = o_.batch * o_.world();
    return (static_cast<int64_t>(data_.train.size()) + global - 1) / global;
  }

  void build(bool fresh) override {
    // Initialisation (rank 0's reaches every rank) and this rank's dropout.
    gen_ = std::make_unique<Generator>(dist::rank_seed(o_.seed, o_.rank()) ^ 0xD1B54A32D192ED03ull);
    model_ = std::make_unique<PolyModel>(cfg_, gen_.get());
    if (fresh && o_.marginal_bias) {
      NoGradGuard ng;
      auto odds = key_log_odds(data_.train);
      std::copy(odds.begin(), odds.end(), model_->output->bias.data<float>());
    }
    opt_ = std::make_unique<optim::Adam>(model_->parameters(), o_.lr);
  }
  std::vector<std::pair<std::string, nn::Module*>> modules() override { return {{"", model_.get()}}; }
  std::vector<std::pair<std::string, optim::Optimizer*>> optimizers() override { return {{"optim.", opt_.get()}}; }
  void save_state(NamedTensors& tensors, Metadata& meta) const override {
    tensors.emplace_back("trainer.rng", gen_->state());
    meta["train_pieces"] = std::to_string(data_.train.size());
  }
  void load_state(const LoadedTensors& ck) override {
    gen_->set_state(ck.at("trainer.rng"));
    std::string pieces = need_metadata(ck, "train_pieces");
    if (std::stoll(pieces) != static_cast<int64_t>(data_.train.size()))
      throw Error("it was trained on " + pieces + " pieces, this data has " + std::to_string(data_.train.size()) +
                  " (resume with the same data)");
  }
  void begin_epoch(int64_t epoch) override {
    // The global batches of world x batch pieces; this rank takes a slice.
    batches_ = poly_epoch_batches(data_.train, o_.batch * o_.world(), o_.seed, epoch);
    shifts_ = poly_epoch_shifts(data_.train, o_.transpose, o_.seed, epoch);
  }

  StepOutcome train_step(const StepContext& ctx) override {
    const auto& global = batches_[ctx.pos];
    auto [a, e] = rank_slice(static_cast<int64_t>(global.size()), o_.rank(), o_.world());
    const std::vector<int64_t> idx(global.begin() + a, global.begin() + e);
    int64_t global_frames = 0;
    for (int64_t i : global) global_frames += data_.train[i].predicted();
    if (idx.empty()) {  // a short last batch leaves this rank nothing: zero gradients
      opt_->zero_grad();
      ctx.apply(*opt_);
      return {0.0, 0.0, 0, {}};
    }
    std::vector<int> row_shifts;
    if (o_.transpose > 0)
      for (int64_t i : idx) row_shifts.push_back(shifts_[i]);
    PolyBatch b = make_poly_batch(data_.train, idx, 0, 0, row_shifts);
    Tensor logits = model_->forward_frames(b.input.to(o_.device));
    Tensor total = poly_frame_nll_sum(logits, b.target.to(o_.device), b.mask.to(o_.device));
    // Scaled so that the mean of the ranks' gradients is the gradient of the
    // global batch's NLL per frame (in one process: this batch's).
    Tensor loss = div(total, Tensor::scalar(static_cast<double>(global_frames) / o_.world()));
    ctx.update(*opt_, loss);
    const double local = total.item() / static_cast<double>(b.frames);
    return {o_.world() > 1 ? local : loss.item(), static_cast<double>(b.frames), b.frames, {}};
  }
  double evaluate() override {
    auto [total, frames] = poly_nll_sum(*model_, data_.valid, o_.rank(), o_.world());
    std::vector<double> v = {total, static_cast<double>(frames)};
    reduce_sum(o_, v, "all-reduce of the validation NLL");
    return poly_nll_mean(v[0], static_cast<int64_t>(v[1]), nullptr);
  }
  void train_mode() override { model_->train(); }

  LogSpec log_spec() const override {
    LogSpec s("cadenza poly " + cfg_.cell + " training", "nats per frame", "frames_per_s", "frames/s",
              {"step", "epoch", "loss", "lr", "val_nll", "frames_per_s", "elapsed_s"});
    s.loss_tag = "train/nll";
    s.loss_label = "train nll";
    return s;
  }
  std::string format_val(double val, double best) const override {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.4f nats/frame (best %.4f)", val, std::min(val, best));
    return buf;
  }

 private:
  PolyModelConfig cfg_;
  const PolyDataset& data_;
  PolyTrainOptions& o_;
  std::unique_ptr<Generator> gen_;
  std::unique_ptr<PolyModel> model_;
  std::unique_ptr<optim::Adam> opt_;
  std::vector<std::vector<int64_t>> batches_;
  std::vector<int> shifts_;
};

}  // namespace

PolyTrainResult train_poly(const PolyModelConfig& cfg, const PolyDataset& data_in, PolyTrainOptions o) {
  cfg.validate();
  // Pieces of 0 or 1 frames predict nothing; a batch of only those would
  // divide by zero frames.
  PolyDataset data;
  data.path = data_in.path;
  data.valid = data_in.valid;
  for (const PolyPiece& p : data_in.train)
    if (p.predicted() > 0) data.train.push_back(p);
  if (predicted_frames(data.train) == 0) throw Error("train poly: no training frames to predict");
  if (predicted_frames(data.valid) == 0) throw Error("train poly: no validation frames to predict");
  if (o.batch <= 0) throw OptionError("batch", "batch must be positive, got " + std::to_string(o.batch));
  if (o.transpose < 0 || o.transpose > 12)
    throw OptionError("transpose", "transpose must be in 0..12, got " + std::to_string(o.transpose));
  PolyTask task(cfg, data, o);
  return run_training(task);
}

}  // namespace cadenza::models
