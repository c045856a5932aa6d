#include "models/token_trainer.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "engine/file_io.h"
#include "engine/optim.h"
#include "models/trainer_io.h"

namespace cadenza::models {

namespace {

// This rank's `batch` of the world x batch parallel token streams of one
// epoch (every rank cuts the same streams and keeps its own slice).
struct Streams {
  std::vector<TokenSeq> rows;
  int64_t row_len = 0;
};

Streams build_streams(const std::vector<TokenSeq>& train, const TokenTrainOptions& o, int64_t epoch,
                      const TransposeFn& transpose) {
  // Each epoch's order and shifts come from a generator of its own, so the
  // streams can be rebuilt exactly on resume.
  Generator g(o.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
  auto order = randperm(static_cast<int64_t>(train.size()), &g);
  TokenSeq all;
  for (int64_t i : order) {
    const TokenSeq* piece = &train[i];
    TokenSeq shifted;
    if (o.transpose > 0 && transpose) {
      int shift = static_cast<int>(std::floor(uniform_double(&g) * (2 * o.transpose + 1))) - o.transpose;
      if (shift != 0) {
        shifted = transpose(*piece, shift);
        if (!shifted.empty()) piece = &shifted;
      }
    }
    all.insert(all.end(), piece->begin(), piece->end());
  }
  Streams s;
  const int64_t streams = o.batch * o.world();
  s.row_len = static_cast<int64_t>(all.size()) / streams;
  if (s.row_len < o.seq_len + 1)
    throw OptionError("batch", "training data too small: " + std::to_string(all.size()) + " tokens cannot fill " +
                                   std::to_string(streams) + " streams (batch" +
                                   (o.world() > 1 ? " x ranks" : "") + ") of " + std::to_string(o.seq_len + 1) +
                                   " tokens (seq_len + 1); use fewer or shorter streams, or add data");
  for (int64_t b = o.batch * o.rank(); b < o.batch * (o.rank() + 1); ++b)
    s.rows.emplace_back(all.begin() + b * s.row_len, all.begin() + (b + 1) * s.row_len);
  return s;
}

double to_bits(double nats) { return nats / std::log(2.0); }

}  // namespace

namespace {

// The summed NLL and the token count of the groups of 32 pieces that fall
// to `rank` of `world` (groups dealt in turn), within the first max_tokens.
std::pair<double, int64_t> nll_sum(SequenceModel& model, const std::vector<TokenSeq>& pieces, int64_t seq_len,
                                   int64_t max_tokens, int rank, int world) {
  NoGradGuard ng;
  bool was_training = model.is_training();
  model.eval();
  const int64_t V = model.config.vocab_size;
  const Device device = model.parameters().at(0).device();  // the batches follow the model
  double total = 0;
  int64_t count = 0;
  // Pieces are batched (32 at a time) and padded; padded targets are ignored.
  const size_t group = 32;
  int64_t before = 0;  // tokens of the groups before this one, on every rank
  for (size_t g0 = 0; g0 < pieces.size(); g0 += group) {
    if (max_tokens > 0 && before >= max_tokens) break;
    size_t g1 = std::min(pieces.size(), g0 + group);
    for (size_t i = g0; i < g1; ++i) before += std::max<int64_t>(0, static_cast<int64_t>(pieces[i].size()) - 1);
    if (static_cast<int>((g0 / group) % static_cast<size_t>(world)) != rank) continue;
    int64_t B = static_cast<int64_t>(g1 - g0), L = 0;
    for (size_t i = g0; i < g1; ++i) L = std::max<int64_t>(L, static_cast<int64_t>(pieces[i].size()) - 1);
    if (L <= 0) continue;
    RecurrentState state;
    for (int64_t t0 = 0; t0 < L; t0 += seq_len) {
      int64_t T = std::min(seq_len, L - t0);
      Tensor inp = Tensor::zeros({B, T}, DType::i64), tgt = Tensor::full({B, T}, -100, DType::i64);
      int64_t* pi = inp.data<int64_t>();
      int64_t* pt = tgt.data<int64_t>();
      for (int64_t b = 0; b < B; ++b) {
        const TokenSeq& p = pieces[g0 + b];
        for (int64_t t = 0; t < T; ++t) {
          int64_t k = t0 + t;
          if (k + 1 < static_cast<int64_t>(p.size())) {
            pi[b * T + t] = p[k];
            pt[b * T + t] = p[k + 1];
          }
        }
      }
      for (int64_t i = 0; i < B * T; ++i) count += pt[i] != -100;
      Tensor logits = model.forward_tokens(inp.to(device), &state);
      Tensor l = cross_entropy(reshape(logits, {B * T, V}), reshape(tgt.to(device), {B * T}), -100, "sum");
      total += l.item();
    }
  }
  if (was_training) model.train();
  return {total, count};
}

double nll_mean(double total, int64_t count, int64_t* tokens_out) {
  if (tokens_out) *tokens_out = count;
  if (count == 0) throw Error("evaluate: no tokens to predict (every piece is shorter than 2 tokens)");
  return total / static_cast<double>(count);
}

}  // namespace

double evaluate_nll(SequenceModel& model, const std::vector<TokenSeq>& pieces, int64_t seq_len,
                    int64_t max_tokens, int64_t* tokens_out) {
  auto [total, count] = nll_sum(model, pieces, seq_len, max_tokens, 0, 1);
  return nll_mean(total, count, tokens_out);
}

double unigram_nll(const std::vector<TokenSeq>& train, const std::vector<TokenSeq>& valid, int64_t vocab) {
  std::vector<double> freq(vocab, 1.0);  // add-one smoothing
  double n = static_cast<double>(vocab);
  for (auto& p : train)
    for (int32_t t : p) {
      freq[t] += 1;
      n += 1;
    }
  double total = 0;
  int64_t count = 0;
  for (auto& p : valid)
    for (size_t i = 1; i < p.size(); ++i) {
      total -= std::log(freq[p[i]] / n);
      ++count;
    }
  return count ? total / count : std::nan("");
}

void save_sequence_checkpoint(const std::string& path, const SequenceModel& model,
                              const std::vector<std::pair<std::string, Tensor>>& extra,
                              std::map<std::string, std::string> metadata) {
  save_model_checkpoint(path, model, model.config.to_json(), "cadenza.sequence_model.v1", extra,
                        std::move(metadata));
}

std::unique_ptr<SequenceModel> load_sequence_model(const std::string& path) {
  return load_checkpoint_model<SequenceModel>(path, "cadenza.sequence_model.v1", "sequence model", false);
}

namespace {

const char* kTokenFormat = "cadenza.sequence_model.v1";

// The token model as a task of the training loop.
class TokenTask : public TrainTask {
 public:
  TokenTask(const SequenceModelConfig& cfg, const std::vector<TokenSeq>& train, const std::vector<TokenSeq>& valid,
            TokenTrainOptions& o, const TransposeFn& transpose)
      : cfg_(cfg), train_(train), valid_(valid), o_(o), transpose_(transpose) {}

  LoopOptions& options() override { return o_; }
  std::string format() const override { return kTokenFormat; }
  std::string config_json() const override { return cfg_.to_json(); }
  std::vector<OptionField> option_fields() override {
    return {{"batch", &o_.batch}, {"seq_len", &o_.seq_len}, {"val_tokens", &o_.val_tokens},
            {"transpose", &o_.transpose}};
  }
  void config_from_json(const std::string& json) override {
    SequenceModelConfig saved = SequenceModelConfig::from_json(json);
    if (saved.vocab != cfg_.vocab || saved.vocab_size != cfg_.vocab_size)
      throw OptionError("vocab", "the run was trained on the '" + saved.vocab + "' vocabulary (" +
                                     std::to_string(saved.vocab_size) + " tokens), not '" + cfg_.vocab + "' (" +
                                     std::to_string(cfg_.vocab_size) + ")");
    cfg_ = saved;
  }
  std::set<std::string> resume_reads() const override { return {"vocab", "vocab_size"}; }
  int64_t default_warmup() const override { return kTokenDefaultWarmup; }

  void build(bool fresh) override {
    if (o_.batch < 0) o_.batch = fitting_batch();
    // Initialisation (rank 0's reaches every rank) and this rank's dropout.
    gen_ = std::make_unique<Generator>(dist::rank_seed(o_.seed, o_.rank()) ^ 0xD1B54A32D192ED03ull);
    model_ = std::make_unique<SequenceModel>(cfg_, gen_.get());
    opt_ = std::make_unique<optim::Adam>(model_->parameters(), o_.lr);
    if (fresh) streams_ = build_streams(train_, o_, epoch_, transpose_);
  }
  std::vector<std::pair<std::string, nn::Module*>> modules() override { return {{"", model_.get()}}; }
  std::vector<std::pair<std::string, optim::Optimizer*>> optimizers() override { return {{"optim.", opt_.get()}}; }

  void save_state(NamedTensors& tensors, Metadata& meta) const override {
    tensors.emplace_back("trainer.rng", gen_->state());
    if (state_.h.defined()) tensors.emplace_back("trainer.h", state_.h.contiguous());
    if (state_.c.defined()) tensors.emplace_back("trainer.c", state_.c.contiguous());
    meta["epoch"] = std::to_string(epoch_);
    meta["pos"] = std::to_string(pos_);
  }
  void moved_to(Device device) override {
    if (state_.h.defined()) state_.h = state_.h.to(device);
    if (state_.c.defined()) state_.c = state_.c.to(device);
  }
  void load_state(const LoadedTensors& ck) override {
    gen_->set_state(ck.at("trainer.rng"));
    if (ck.contains("trainer.h")) state_.h = ck.at("trainer.h");
    if (ck.contains("trainer.c")) state_.c = ck.at("trainer.c");
    epoch_ = std::stoll(need_metadata(ck, "epoch"));
    pos_ = std::stoll(need_metadata(ck, "pos"));
    streams_ = build_streams(train_, o_, epoch_, transpose_);
    if (pos_ < 0 || pos_ > streams_.row_len)
      throw Error("stream position " + std::to_string(pos_) + " is outside the epoch's " +
                  std::to_string(streams_.row_len) + " tokens per stream");
  }

  StepOutcome train_step(const StepContext& ctx) override {
    const int64_t B = o_.batch, T = o_.seq_len, V = cfg_.vocab_size;
    if (pos_ + T + 1 > streams_.row_len) {
      ++epoch_;
      pos_ = 0;
      streams_ = build_streams(train_, o_, epoch_, transpose_);
      state_ = RecurrentState{};
    }
    Tensor inp = Tensor::empty({B, T}, DType::i64), tgt = Tensor::empty({B, T}, DType::i64);
    int64_t* pi = inp.data<int64_t>();
    int64_t* pt = tgt.data<int64_t>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        pi[b * T + t] = streams_.rows[b][pos_ + t];
        pt[b * T + t] = streams_.rows[b][pos_ + t + 1];
      }
    Tensor logits = model_->forward_tokens(inp.to(o_.device), &state_);
    Tensor loss = cross_entropy(reshape(logits, {B * T, V}), reshape(tgt.to(o_.device), {B * T}));
    ctx.update(*opt_, loss);
    state_ = state_.detached();
    pos_ += T;
    return {loss.item(), 1.0, B * T, {}};
  }
  double evaluate() override {
    auto [total, count] = nll_sum(*model_, valid_, o_.seq_len, o_.val_tokens, o_.rank(), o_.world());
    std::vector<double> v = {total, static_cast<double>(count)};
    reduce_sum(o_, v, "all-reduce of the validation NLL");
    return nll_mean(v[0], static_cast<int64_t>(v[1]), nullptr);
  }
  void train_mode() override { model_->train(); }

  LogSpec log_spec() const override {
    return {"cadenza " + cfg_.cell + " training", "nats per token", "tokens_per_s", "tok/s",
            {"step", "loss", "lr", "val_nll", "val_bits", "tokens_per_s", "elapsed_s"}};
  }
  std::string format_val(double val, double) const override {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4f nats (%.3f bits)", val, to_bits(val));
    return buf;
  }
  std::vector<std::pair<std::string, double>> eval_cells(double val) const override {
    return {{"val_bits", to_bits(val)}};
  }
  std::vector<std::pair<std::string, double>> eval_scalars(double val) const override {
    return {{"valid/bits_per_token", to_bits(val)}};
  }

 private:
  // The most streams (up to 32) of seq_len + 1 tokens the training data fills.
  int64_t fitting_batch() const {
    int64_t tokens = 0;
    for (auto& p : train_) tokens += static_cast<int64_t>(p.size());
    return std::clamp<int64_t>(tokens / (o_.seq_len + 1) / o_.world(), 1, 32);
  }

  SequenceModelConfig cfg_;
  const std::vector<TokenSeq>& train_;
  const std::vector<TokenSeq>& valid_;
  TokenTrainOptions& o_;
  TransposeFn transpose_;
  std::unique_ptr<Generator> gen_;
  std::unique_ptr<SequenceModel> model_;
  std::unique_ptr<optim::Adam> opt_;
  RecurrentState state_;
  Streams streams_;
  int64_t epoch_ = 0, pos_ = 0;
};

}  // namespace

TrainResult train_tokens(const SequenceModelConfig& cfg, const std::vector<TokenSeq>& train,
                         const std::vector<TokenSeq>& valid, TokenTrainOptions o, const TransposeFn& transpose) {
  cfg.validate();
  if (train.empty()) throw Error("train: no training pieces");
  if (valid.empty()) throw Error("train: no validation pieces");
  for (auto* set : {&train, &valid})
    for (auto& p : *set)
      for (int32_t t : p)
        if (t < 0 || t >= cfg.vocab_size)
          throw Error("train: token " + std::to_string(t) + " is outside the vocabulary of " +
                      std::to_string(cfg.vocab_size));
  if (o.batch == 0) throw OptionError("batch", "batch must be positive (or < 0 for the default)");
  if (o.seq_len <= 0) throw OptionError("seq_len", "seq_len must be positive, got " + std::to_string(o.seq_len));
  if (o.val_tokens < 0) throw OptionError("val_tokens", "val_tokens must be >= 0 (0: no cap)");
  if (o.transpose < 0 || o.transpose > 12)
    throw OptionError("transpose", "transpose must be in 0..12, got " + std::to_string(o.transpose));
  TokenTask task(cfg, train, valid, o, transpose);
  return run_training(task);
}

}  // namespace cadenza::models
