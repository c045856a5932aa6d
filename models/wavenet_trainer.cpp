#include "models/wavenet_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "audio/audio.h"
#include "engine/autograd.h"
#include "models/wavenet_generate.h"
#include "models/trainer_io.h"

namespace cadenza::models {

namespace {

const char* kWaveNetFormat = "cadenza.wavenet.v1";

double to_bits(double nats) { return nats / std::log(2.0); }

// Sum of the next-sample cross-entropy over the batch's targets (nats).
// The batch goes to the model's device d.
Tensor batch_nll_sum(WaveNet& model, const WaveBatch& b, Device d) {
  auto on = [&](const Tensor& t) { return t.defined() ? t.to(d) : t; };
  Tensor logits = model.forward_audio(on(b.x), on(b.mel), on(b.classes));
  return cross_entropy(logits, on(b.target), -100, "sum");
}

class WaveNetTask : public TrainTask {
 public:
  WaveNetTask(const WaveNetConfig& cfg, const WaveCorpus& data, WaveNetTrainOptions& o)
      : cfg_(cfg), data_(data), o_(o) {}

  LoopOptions& options() override { return o_; }
  std::string format() const override { return kWaveNetFormat; }
  std::string config_json() const override { return cfg_.to_json(); }
  std::vector<OptionField> option_fields() override {
    return {{"batch", &o_.batch}, {"crop", &o_.crop}, {"valid_crops", &o_.valid_crops}};
  }
  void config_from_json(const std::string& json) override {
    WaveNetConfig saved = WaveNetConfig::from_json(json);
    if (saved.sample_rate != cfg_.sample_rate)
      throw OptionError("sample_rate", "the run was trained at " + std::to_string(saved.sample_rate) +
                                           " Hz, not " + std::to_string(cfg_.sample_rate));
    if (saved.n_classes != cfg_.n_classes || saved.cin_channels != cfg_.cin_channels)
      throw Error("the run was trained with other conditioning (" + std::to_string(saved.n_classes) +
                  " classes, " + std::to_string(saved.cin_channels) + " mel bands) than this data gives");
    if (saved.class_names != cfg_.class_names)
      throw Error("the run was trained on other classes (folders) than this data has; resume with the same data");
    cfg_ = saved;
  }
  std::set<std::string> resume_reads() const override { return {"sample_rate", "class_names", "n_classes"}; }
  int64_t default_warmup() const override { return kWaveNetDefaultWarmup; }

  void build(bool fresh) override {
    // Initialisation (rank 0's reaches every rank) and this rank's dropout;
    // the crops are drawn alike on every rank, each making its own slice.
    gen_ = std::make_unique<Generator>(dist::rank_seed(o_.seed, o_.rank()) ^ 0xD1B54A32D192ED03ull);
    crops_ = std::make_unique<Generator>(o_.seed * 0x9E3779B97F4A7C15ull + 11);
    model_ = std::make_unique<WaveNet>(cfg_, gen_.get());
    opt_ = std::make_unique<optim::Adam>(model_->parameters(), o_.lr);
    // The held-out crops: the same every evaluation, a function of the seed.
    Generator g(o_.seed + 77);
    const auto& held = data_.valid.empty() ? data_.train : data_.valid;
    int64_t longest = 0;
    for (const auto& c : held) longest = std::max<int64_t>(longest, static_cast<int64_t>(c.ids.size()));
    const int64_t length = std::max<int64_t>(1, std::min(o_.crop, longest - 1));  // short held-out clips: shorter crops
    valid_.clear();
    for (int64_t i = 0; i < o_.valid_crops; ++i) valid_.push_back(random_wave_batch(held, cfg_, 1, length, g));
    (void)fresh;
  }
  std::vector<std::pair<std::string, nn::Module*>> modules() override { return {{"", model_.get()}}; }
  std::vector<std::pair<std::string, optim::Optimizer*>> optimizers() override { return {{"optim.", opt_.get()}}; }
  void save_state(NamedTensors& tensors, Metadata&) const override {
    tensors.emplace_back("trainer.rng", gen_->state());
    tensors.emplace_back("trainer.crop_rng", crops_->state());
  }
  void load_state(const LoadedTensors& ck) override {
    gen_->set_state(ck.at("trainer.rng"));
    crops_->set_state(ck.at("trainer.crop_rng"));
  }

  StepOutcome train_step(const StepContext& ctx) override {
    WaveBatch b = random_wave_batch(data_.train, cfg_, o_.batch * o_.world(), o_.crop, *crops_,
                                    o_.batch * o_.rank(), o_.batch);
    const double n = static_cast<double>(o_.batch * o_.crop);
    Tensor loss = div(batch_nll_sum(*model_, b, o_.device), Tensor::scalar(n));
    ctx.update(*opt_, loss);
    return {loss.item(), 1.0, o_.batch * o_.crop, {}};
  }
  double evaluate() override {
    NoGradGuard ng;
    model_->eval();
    // The held-out crops dealt to the ranks in turn, the sums added up.
    std::vector<double> v = {0, 0};
    for (size_t i = static_cast<size_t>(o_.rank()); i < valid_.size(); i += static_cast<size_t>(o_.world())) {
      v[0] += batch_nll_sum(*model_, valid_[i], o_.device).item();
      v[1] += static_cast<double>(valid_[i].x.numel());
    }
    reduce_sum(o_, v, "all-reduce of the validation NLL");
    return v[0] / v[1];
  }
  void train_mode() override { model_->train(); }
  // A clip to listen to: the vocoder's resynthesis of the first held-out crop,
  // or half a second generated from silence (class 0 for a class model).
  void on_evaluated(SummaryWriter& tb, int64_t step) override {
    NoGradGuard ng;
    model_->eval();
    Generator g(o_.seed + 1000 + static_cast<uint64_t>(step));
    int64_t n = std::min<int64_t>(cfg_.sample_rate / 2, o_.crop);
    Tensor mel;
    std::vector<int64_t> classes;
    if (cfg_.cin_channels > 0) {
      mel = valid_[0].mel;
      n = std::min<int64_t>(n, valid_[0].x.shape()[1]);
    }
    if (cfg_.n_classes > 0) classes = {0};
    std::vector<double> u(static_cast<size_t>(n));
    for (double& v : u) v = uniform_double(&g);
    // The fast generator reads the weights on the host: a host copy of a model on a device.
    std::unique_ptr<WaveNet> host;
    if (o_.device != Device{}) {
      host = std::make_unique<WaveNet>(cfg_, nullptr);
      nn::StateDict sd = model_->state_dict();
      for (auto& kv : sd) kv.second = kv.second.to(Device{});
      host->load_state_dict(sd);
      host->eval();
    }
    auto ids = generate_wavenet(host ? *host : *model_, 1, n, u, 1.0, mel, classes);
    tb.add_audio(cfg_.cin_channels > 0 ? "valid/resynthesis" : "samples/generated",
                 audio::mu_law_decode(ids[0], static_cast<int>(cfg_.quantize)), cfg_.sample_rate, step);
  }

  LogSpec log_spec() const override {
    return {"cadenza wavenet training", "nats per sample", "samples_per_s", "samples/s",
            {"step", "loss", "lr", "val_nll", "val_bits", "samples_per_s", "elapsed_s"}};
  }
  std::string format_val(double val, double best) const override {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.4f nats (%.3f bits, best %.3f)", val, to_bits(val), to_bits(std::min(val, best)));
    return buf;
  }
  std::vector<std::pair<std::string, double>> eval_cells(double val) const override {
    return {{"val_bits", to_bits(val)}};
  }
  std::vector<std::pair<std::string, double>> eval_scalars(double val) const override {
    return {{"valid/bits_per_sample", to_bits(val)}};
  }

 private:
  WaveNetConfig cfg_;
  const WaveCorpus& data_;
  WaveNetTrainOptions& o_;
  std::unique_ptr<Generator> gen_, crops_;
  std::unique_ptr<WaveNet> model_;
  std::unique_ptr<optim::Adam> opt_;
  std::vector<WaveBatch> valid_;
};

}  // namespace

TrainResult train_wavenet(const WaveNetConfig& cfg, const WaveCorpus& data, WaveNetTrainOptions o) {
  cfg.validate();
  if (data.train.empty()) throw Error("train wavenet: no training clips");
  if (o.batch <= 0) throw OptionError("batch", "batch must be positive, got " + std::to_string(o.batch));
  if (o.crop < 2) throw OptionError("crop", "crop must be at least 2 samples, got " + std::to_string(o.crop));
  if (o.valid_crops <= 0)
    throw OptionError("valid_crops", "valid_crops must be positive, got " + std::to_string(o.valid_crops));
  WaveNetTask task(cfg, data, o);
  return run_training(task);
}

double evaluate_wavenet(WaveNet& model, const std::vector<WaveClip>& clips, int64_t window, int64_t* count) {
  NoGradGuard ng;
  bool was_training = model.is_training();
  model.eval();
  const WaveNetConfig& cfg = model.config;
  const int64_t context = cfg.receptive_field() - 1;
  double total = 0;
  int64_t n = 0;
  for (const WaveClip& clip : clips) {
    const int64_t T = static_cast<int64_t>(clip.ids.size()) - 1;  // predicted samples
    if (T < 1) continue;
    // The mel upsampled over the whole clip once, so windows see no edges.
    Tensor c_all;
    if (cfg.cin_channels > 0) {
      WaveBatch whole = wave_crop(clip, cfg, 0, T);
      c_all = narrow(model.upsample_mel(whole.mel), 2, 0, T);
    }
    Tensor classes = cfg.n_classes > 0 ? Tensor::full({1}, static_cast<double>(clip.label), DType::i64) : Tensor();
    for (int64_t s = 0; s < T; s += window) {
      // Inputs from s - context, so every scored step sees its whole receptive field.
      const int64_t a = std::max<int64_t>(0, s - context), e = std::min(T, s + window), L = e - a;
      Tensor x = Tensor::empty({1, L}, DType::i64), tgt = Tensor::full({1, L}, -100, DType::i64);
      int64_t* px = x.data<int64_t>();
      int64_t* pt = tgt.data<int64_t>();
      for (int64_t t = 0; t < L; ++t) {
        px[t] = clip.ids[a + t];
        if (a + t >= s) pt[t] = clip.ids[a + t + 1];
      }
      Tensor c = c_all.defined() ? contiguous(narrow(c_all, 2, a, L)) : Tensor();
      Tensor logits = model.forward_conditioned(x, c, classes);
      total += cross_entropy(logits, tgt, -100, "sum").item();
      n += e - s;
    }
  }
  if (was_training) model.train();
  if (count) *count = n;
  if (n == 0) throw Error("evaluate wavenet: no samples to predict");
  return total / static_cast<double>(n);
}

std::unique_ptr<WaveNet> load_wavenet(const std::string& path) {
  return load_checkpoint_model<WaveNet>(path, kWaveNetFormat, "wavenet", true);
}

}  // namespace cadenza::models
