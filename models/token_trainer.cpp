#include "models/token_trainer.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "engine/file_io.h"
#include "engine/optim.h"
#include "engine/progress.h"
#include "engine/summary.h"
#include "models/trainer_io.h"

namespace cadenza::models {

std::atomic<bool>& stop_requested() {
  static std::atomic<bool> flag{false};
  return flag;
}

std::string TokenTrainOptions::to_json() const {
  nlohmann::json j = {{"batch", batch},   {"seq_len", seq_len}, {"steps", steps},
                      {"lr", lr},         {"clip", clip},       {"warmup", warmup},
                      {"seed", seed},     {"eval_every", eval_every},
                      {"val_tokens", val_tokens}, {"transpose", transpose}};
  return j.dump();
}

void TokenTrainOptions::from_json(const std::string& text) {
  auto j = nlohmann::json::parse(text);
  batch = j.at("batch");
  seq_len = j.at("seq_len");
  steps = j.at("steps");
  lr = j.at("lr");
  clip = j.at("clip");
  warmup = j.at("warmup");
  seed = j.at("seed");
  eval_every = j.at("eval_every");
  val_tokens = j.at("val_tokens");
  transpose = j.at("transpose");
}

namespace {

// The `batch` parallel token streams of one epoch.
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
  s.row_len = static_cast<int64_t>(all.size()) / o.batch;
  if (s.row_len < o.seq_len + 1)
    throw Error("training data too small: " + std::to_string(all.size()) + " tokens cannot fill " +
                std::to_string(o.batch) + " streams of " + std::to_string(o.seq_len + 1) +
                " tokens; lower --batch or --seq-len, or add data");
  for (int64_t b = 0; b < o.batch; ++b)
    s.rows.emplace_back(all.begin() + b * s.row_len, all.begin() + (b + 1) * s.row_len);
  return s;
}

double to_bits(double nats) { return nats / std::log(2.0); }

}  // namespace

double evaluate_nll(SequenceModel& model, const std::vector<TokenSeq>& pieces, int64_t seq_len,
                    int64_t max_tokens, int64_t* tokens_out) {
  NoGradGuard ng;
  bool was_training = model.is_training();
  model.eval();
  const int64_t V = model.config.vocab_size;
  double total = 0;
  int64_t count = 0;
  // Pieces are batched (32 at a time) and padded; padded targets are ignored.
  const size_t group = 32;
  for (size_t g0 = 0; g0 < pieces.size(); g0 += group) {
    if (max_tokens > 0 && count >= max_tokens) break;
    size_t g1 = std::min(pieces.size(), g0 + group);
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
      Tensor logits = model.forward_tokens(inp, &state);
      Tensor l = cross_entropy(reshape(logits, {B * T, V}), reshape(tgt, {B * T}), -100, "sum");
      total += l.item();
      for (int64_t i = 0; i < B * T; ++i) count += pt[i] != -100;
    }
  }
  if (was_training) model.train();
  if (tokens_out) *tokens_out = count;
  if (count == 0) throw Error("evaluate: no tokens to predict (every piece is shorter than 2 tokens)");
  return total / static_cast<double>(count);
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
  LoadedTensors f = load_safetensors(path);
  auto it = f.metadata.find("config");
  if (it == f.metadata.end())
    throw Error("'" + path + "' has no model config in its metadata (not a cadenza sequence model checkpoint)");
  SequenceModelConfig cfg;
  try {
    cfg = SequenceModelConfig::from_json(it->second);
  } catch (const Error& e) {
    throw Error("'" + path + "': " + e.what());
  }
  auto model = std::make_unique<SequenceModel>(cfg);
  load_model_tensors(*model, f);
  model->eval();
  return model;
}

TrainResult train_tokens(const SequenceModelConfig& cfg, const std::vector<TokenSeq>& train,
                         const std::vector<TokenSeq>& valid, TokenTrainOptions o,
                         const TransposeFn& transpose) {
  cfg.validate();
  if (train.empty()) throw Error("train: no training pieces");
  if (valid.empty()) throw Error("train: no validation pieces");
  for (auto* set : {&train, &valid})
    for (auto& p : *set)
      for (int32_t t : p)
        if (t < 0 || t >= cfg.vocab_size)
          throw Error("train: token " + std::to_string(t) + " is outside the vocabulary of " +
                      std::to_string(cfg.vocab_size));
  make_dirs(o.out_dir);
  const std::string latest = o.out_dir + "/latest.safetensors", best = o.out_dir + "/best.safetensors";

  int64_t step = 0, epoch = 0, pos = 0;
  double best_val = std::numeric_limits<double>::infinity();
  Generator dropout_gen(o.seed ^ 0xD1B54A32D192ED03ull);
  manual_seed(o.seed);  // parameter initialisation
  SequenceModelConfig model_cfg = cfg;
  LoadedTensors ck;
  if (o.resume) {
    ck = load_safetensors(latest);
    auto need = [&](const char* k) { return need_metadata(ck, k); };
    model_cfg = SequenceModelConfig::from_json(need("config"));
    TokenTrainOptions saved = o;
    saved.from_json(need("options"));
    saved.out_dir = o.out_dir;
    saved.resume = true;
    saved.stop_at = o.stop_at;
    saved.quiet = o.quiet;
    if (o.resume_steps > 0) saved.steps = o.resume_steps;  // extends (or shortens) the schedule
    o = saved;
    step = std::stoll(need("step"));
    epoch = std::stoll(need("epoch"));
    pos = std::stoll(need("pos"));
    best_val = std::stod(need("best_val"));
  }
  SequenceModel model(model_cfg, &dropout_gen);
  optim::Adam opt(model.parameters(), o.lr);
  RecurrentState state;
  if (o.resume) {
    load_model_tensors(model, ck);
    load_trainer_state(ck, opt, dropout_gen);
    if (ck.contains("trainer.h")) state.h = ck.at("trainer.h");
    if (ck.contains("trainer.c")) state.c = ck.at("trainer.c");
  }
  auto sched = optim::WarmupLR(std::make_shared<optim::CosineLR>(o.lr, std::max<int64_t>(1, o.steps - o.warmup),
                                                                 o.lr * 0.05),
                               o.warmup);
  auto save = [&](const std::string& path) {
    NamedTensors extra = trainer_state_tensors(opt, dropout_gen);
    if (state.h.defined()) extra.emplace_back("trainer.h", state.h.contiguous());
    if (state.c.defined()) extra.emplace_back("trainer.c", state.c.contiguous());
    save_sequence_checkpoint(path, model, extra,
                             {{"options", o.to_json()}, {"step", std::to_string(step)},
                              {"epoch", std::to_string(epoch)}, {"pos", std::to_string(pos)},
                              {"best_val", exact_double(best_val)}});
  };

  const std::vector<std::string> cols{"step", "loss", "lr", "val_nll", "val_bits", "tokens_per_s", "elapsed_s"};
  CsvLog csv(o.out_dir + "/metrics.csv", cols, o.resume, static_cast<double>(step));
  SummaryWriter tb(o.out_dir);
  FILE* devnull = o.quiet ? std::fopen("/dev/null", "w") : nullptr;
  Progress progress(o.steps, step, devnull ? devnull : stdout);
  std::vector<std::vector<double>> new_rows;
  Streams streams = build_streams(train, o, epoch, transpose);
  TrainResult res;
  res.best_val_nll = best_val;
  const int64_t B = o.batch, T = o.seq_len, V = model_cfg.vocab_size;
  auto t_start = std::chrono::steady_clock::now();
  auto t_last = t_start;
  int64_t tokens_since = 0;
  double loss_sum = 0;
  int64_t loss_n = 0;
  model.train();
  while (step < o.steps) {
    if (pos + T + 1 > streams.row_len) {
      ++epoch;
      pos = 0;
      streams = build_streams(train, o, epoch, transpose);
      state = RecurrentState{};
    }
    Tensor inp = Tensor::empty({B, T}, DType::i64), tgt = Tensor::empty({B, T}, DType::i64);
    int64_t* pi = inp.data<int64_t>();
    int64_t* pt = tgt.data<int64_t>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        pi[b * T + t] = streams.rows[b][pos + t];
        pt[b * T + t] = streams.rows[b][pos + t + 1];
      }
    double lr = sched.lr_at(step);
    opt.set_lr(lr);
    opt.zero_grad();
    Tensor logits = model.forward_tokens(inp, &state);
    Tensor loss = cross_entropy(reshape(logits, {B * T, V}), reshape(tgt, {B * T}));
    loss.backward();
    optim::clip_grad_norm(opt.params(), o.clip);
    opt.step();
    state = state.detached();
    pos += T;
    ++step;
    double lv = loss.item();
    if (!std::isfinite(lv))
      throw Error("training diverged at step " + std::to_string(step) + " (loss " + std::to_string(lv) +
                  "); try a lower --lr or --clip");
    res.losses.push_back(lv);
    res.last_loss = lv;
    loss_sum += lv;
    ++loss_n;
    tokens_since += B * T;

    bool eval_now = step % o.eval_every == 0 || step == o.steps;
    bool log_now = step % o.log_every == 0 || eval_now || step == o.stop_at;
    double val = std::nan("");
    if (eval_now) {
      val = evaluate_nll(model, valid, T, o.val_tokens);
      res.final_val_nll = val;
      tb.add_scalar("valid/nll", val, step);
      tb.add_scalar("valid/bits_per_token", to_bits(val), step);
    }
    if (log_now) {
      auto now = std::chrono::steady_clock::now();
      double dt = std::chrono::duration<double>(now - t_last).count();
      double tps = dt > 0 ? tokens_since / dt : 0;
      double elapsed = std::chrono::duration<double>(now - t_start).count();
      double mean_loss = loss_sum / loss_n;
      std::vector<double> row{static_cast<double>(step), mean_loss, lr, val,
                              eval_now ? to_bits(val) : std::nan(""), tps, elapsed};
      csv.row(row);
      new_rows.push_back(row);
      tb.add_scalar("train/loss", mean_loss, step);
      tb.add_scalar("train/lr", lr, step);
      tb.add_scalar("train/tokens_per_s", tps, step);
      char buf[64];
      Progress::Fields f;
      std::snprintf(buf, sizeof buf, "%.4f", mean_loss);
      f.emplace_back("loss", buf);
      if (eval_now) {
        std::snprintf(buf, sizeof buf, "%.4f nats (%.3f bits)", val, to_bits(val));
        f.emplace_back("val_nll", buf);
      }
      std::snprintf(buf, sizeof buf, "%.0f", tps);
      f.emplace_back("tok/s", buf);
      progress.update(step, f);
      t_last = now;
      tokens_since = 0;
      loss_sum = 0;
      loss_n = 0;
    }
    if (eval_now) {
      if (val < best_val) {
        best_val = val;
        save(best);
      }
      save(latest);
      tb.flush();
    }
    if (stop_requested().load() || step == o.stop_at) {
      save(latest);
      res.interrupted = true;
      progress.log("stopped at step " + std::to_string(step) + "; continue with --resume");
      break;
    }
  }
  progress.finish();
  if (devnull) std::fclose(devnull);
  res.steps_done = step;
  res.best_val_nll = best_val;
  tb.flush();
  // The loss curve from the whole history (rows of earlier runs included).
  std::vector<std::vector<double>> rows = csv.existing_rows();
  rows.insert(rows.end(), new_rows.begin(), new_rows.end());
  plot_training_curves(o.out_dir + "/loss.png", "cadenza " + model_cfg.cell + " training", rows, 0, 1, 3,
                       "train loss", "nats per token");
  return res;
}

}  // namespace cadenza::models
