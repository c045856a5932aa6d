#include "models/poly_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "engine/file_io.h"
#include "engine/optim.h"
#include "engine/progress.h"
#include "engine/random.h"
#include "engine/summary.h"
#include "models/token_trainer.h"  // stop_requested()
#include "models/trainer_io.h"

namespace cadenza::models {

std::string PolyTrainOptions::to_json() const {
  nlohmann::json j = {{"batch", batch}, {"epochs", epochs}, {"lr", lr},     {"clip", clip},
                      {"warmup", warmup}, {"seed", seed}, {"patience", patience}, {"transpose", transpose},
                      {"marginal_bias", marginal_bias}};
  return j.dump();
}

void PolyTrainOptions::from_json(const std::string& text) {
  auto j = nlohmann::json::parse(text);
  batch = j.at("batch");
  epochs = j.at("epochs");
  lr = j.at("lr");
  clip = j.at("clip");
  warmup = j.at("warmup");
  seed = j.at("seed");
  patience = j.at("patience");
  transpose = j.at("transpose");
  marginal_bias = j.at("marginal_bias");
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

double evaluate_poly(PolyModel& model, const std::vector<PolyPiece>& pieces, int64_t* frames_out) {
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
  for (size_t g0 = 0; g0 < order.size(); g0 += group) {
    std::vector<int64_t> idx(order.begin() + g0, order.begin() + std::min(order.size(), g0 + group));
    PolyBatch b = make_poly_batch(pieces, idx);
    Tensor logits = model.forward_frames(b.input);
    Tensor l = poly_frame_nll_sum(to_dtype(logits, DType::f64), to_dtype(b.target, DType::f64),
                                  to_dtype(b.mask, DType::f64));
    total += l.item();
    frames += b.frames;
  }
  if (was_training) model.train();
  if (frames_out) *frames_out = frames;
  if (frames == 0) throw Error("evaluate_poly: no frames to predict (every piece is shorter than 2 frames)");
  return total / static_cast<double>(frames);
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
  RecurrentState state;
  Tensor x = Tensor::zeros({1, 1, K});
  for (int64_t t = 1; t < frames; ++t) {
    float* px = x.data<float>();
    for (int64_t k = 0; k < K; ++k) px[k] = out[(t - 1) * K + k];
    Tensor logits = model.forward_frames(x, &state).contiguous();
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
  LoadedTensors f = load_safetensors(path);
  auto fmt = f.metadata.find("format");
  if (fmt == f.metadata.end() || fmt->second != kFormat)
    throw Error("'" + path + "' is not a cadenza poly model checkpoint (format '" +
                (fmt == f.metadata.end() ? std::string("none") : fmt->second) + "', expected '" + kFormat + "')");
  auto it = f.metadata.find("config");
  if (it == f.metadata.end()) throw Error("'" + path + "' has no model config in its metadata");
  PolyModelConfig cfg;
  try {
    cfg = PolyModelConfig::from_json(it->second);
  } catch (const Error& e) {
    throw Error("'" + path + "': " + e.what());
  }
  auto model = std::make_unique<PolyModel>(cfg);
  load_model_tensors(*model, f);
  model->eval();
  return model;
}

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
  if (o.batch <= 0 || o.epochs <= 0) throw Error("train poly: batch and epochs must be positive");
  make_dirs(o.out_dir);
  const std::string latest = o.out_dir + "/latest.safetensors", best = o.out_dir + "/best.safetensors";

  int64_t step = 0, epoch = 0, pos = 0, best_epoch = 0;
  double best_val = std::numeric_limits<double>::infinity();
  Generator dropout_gen(o.seed ^ 0xD1B54A32D192ED03ull);
  manual_seed(o.seed);  // parameter initialisation
  PolyModelConfig model_cfg = cfg;
  LoadedTensors ck;
  if (o.resume) {
    ck = load_safetensors(latest);
    auto need = [&](const char* k) { return need_metadata(ck, k); };
    if (need("format") != kFormat) throw Error("'" + latest + "' is not a poly model checkpoint");
    PolyTrainOptions saved = o;
    try {
      model_cfg = PolyModelConfig::from_json(need("config"));
      saved.from_json(need("options"));
      step = std::stoll(need("step"));
      epoch = std::stoll(need("epoch"));
      pos = std::stoll(need("pos"));
      best_val = std::stod(need("best_val"));
      best_epoch = std::stoll(need("best_epoch"));
      if (std::stoll(need("train_pieces")) != static_cast<int64_t>(data.train.size()))
        throw Error("it was trained on " + need("train_pieces") + " pieces, this data has " +
                    std::to_string(data.train.size()) + " (resume with the same --data)");
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error("'" + latest + "': bad trainer state in its metadata (" + e.what() + ")");
    }
    saved.out_dir = o.out_dir;
    saved.resume = true;
    saved.stop_at = o.stop_at;
    saved.quiet = o.quiet;
    saved.log_every = o.log_every;
    if (o.resume_epochs > 0) saved.epochs = o.resume_epochs;
    o = saved;
  }
  PolyModel model(model_cfg, &dropout_gen);
  if (!o.resume && o.marginal_bias) {
    NoGradGuard ng;
    auto odds = key_log_odds(data.train);
    std::copy(odds.begin(), odds.end(), model.output->bias.data<float>());
  }
  optim::Adam opt(model.parameters(), o.lr);
  if (o.resume) {
    load_model_tensors(model, ck);
    load_trainer_state(ck, opt, dropout_gen);
  }
  const int64_t per_epoch = (static_cast<int64_t>(data.train.size()) + o.batch - 1) / o.batch;
  const int64_t total_steps = per_epoch * o.epochs;
  if (o.warmup < 0 || o.warmup >= total_steps)
    throw Error("train poly: warmup (" + std::to_string(o.warmup) + " steps) must be below the run's " +
                std::to_string(total_steps) + " steps");
  auto sched = optim::WarmupLR(
      std::make_shared<optim::CosineLR>(o.lr, std::max<int64_t>(1, total_steps - o.warmup), o.lr * 0.05), o.warmup);
  auto save = [&](const std::string& path) {
    save_model_checkpoint(path, model, model.config.to_json(), kFormat, trainer_state_tensors(opt, dropout_gen),
                         {{"options", o.to_json()},
                          {"step", std::to_string(step)},
                          {"epoch", std::to_string(epoch)},
                          {"pos", std::to_string(pos)},
                          {"best_val", exact_double(best_val)},
                          {"best_epoch", std::to_string(best_epoch)},
                          {"train_pieces", std::to_string(data.train.size())}});
  };

  const std::vector<std::string> cols{"step", "epoch", "loss", "lr", "val_nll", "frames_per_s", "elapsed_s"};
  CsvLog csv(o.out_dir + "/metrics.csv", cols, o.resume, static_cast<double>(step));
  SummaryWriter tb(o.out_dir);
  FILE* devnull = o.quiet ? std::fopen("/dev/null", "w") : nullptr;
  Progress progress(total_steps, step, devnull ? devnull : stdout);
  std::vector<std::vector<double>> new_rows;
  PolyTrainResult res;
  auto t_start = std::chrono::steady_clock::now();
  auto t_last = t_start;
  int64_t frames_since = 0;
  double loss_sum = 0;
  int64_t loss_frames = 0;
  auto batches = poly_epoch_batches(data.train, o.batch, o.seed, epoch);
  if (pos < 0 || pos >= static_cast<int64_t>(batches.size()))
    throw Error("'" + latest + "': position " + std::to_string(pos) + " is outside the epoch's " +
                std::to_string(batches.size()) + " batches");
  // A run that patience ended stays ended when resumed with the same epochs.
  bool finished_early = o.resume && o.patience > 0 && pos == 0 && epoch - best_epoch >= o.patience;
  if (finished_early) res.stopped_early = true;
  auto shifts = poly_epoch_shifts(data.train, o.transpose, o.seed, epoch);
  auto log_row = [&](double val) {
    auto now = std::chrono::steady_clock::now();
    double dt = std::chrono::duration<double>(now - t_last).count();
    double fps = dt > 0 ? frames_since / dt : 0;
    double elapsed = std::chrono::duration<double>(now - t_start).count();
    double mean_loss = loss_frames ? loss_sum / loss_frames : std::nan("");
    double lr = sched.lr_at(std::max<int64_t>(0, step - 1));
    std::vector<double> row{static_cast<double>(step), static_cast<double>(epoch), mean_loss, lr, val, fps, elapsed};
    csv.row(row);
    new_rows.push_back(row);
    if (loss_frames) tb.add_scalar("train/nll", mean_loss, step);
    tb.add_scalar("train/lr", lr, step);
    tb.add_scalar("train/frames_per_s", fps, step);
    if (std::isfinite(val)) tb.add_scalar("valid/nll", val, step);
    Progress::Fields f;
    char buf[64];
    f.emplace_back("epoch", std::to_string(epoch + (pos == 0 && step > 0 ? 0 : 1)) + "/" + std::to_string(o.epochs));
    std::snprintf(buf, sizeof buf, "%.4f", mean_loss);
    f.emplace_back("loss", buf);
    if (std::isfinite(val)) {
      std::snprintf(buf, sizeof buf, "%.4f nats/frame (best %.4f)", val, std::min(val, best_val));
      f.emplace_back("val_nll", buf);
    }
    std::snprintf(buf, sizeof buf, "%.0f", fps);
    f.emplace_back("frames/s", buf);
    progress.update(step, f);
    t_last = now;
    frames_since = 0;
    loss_sum = 0;
    loss_frames = 0;
  };

  model.train();
  while (epoch < o.epochs && !finished_early) {
    const auto& idx = batches[pos];
    std::vector<int> row_shifts;
    if (o.transpose > 0)
      for (int64_t i : idx) row_shifts.push_back(shifts[i]);
    PolyBatch b = make_poly_batch(data.train, idx, 0, 0, row_shifts);
    opt.set_lr(sched.lr_at(step));
    opt.zero_grad();
    Tensor logits = model.forward_frames(b.input);
    Tensor total = poly_frame_nll_sum(logits, b.target, b.mask);
    Tensor loss = div(total, Tensor::scalar(static_cast<double>(b.frames)));
    loss.backward();
    optim::clip_grad_norm(opt.params(), o.clip);
    opt.step();
    ++step;
    ++pos;
    double lv = loss.item();
    if (!std::isfinite(lv))
      throw Error("training diverged at step " + std::to_string(step) + " (loss " + std::to_string(lv) +
                  "); try a lower --lr or --clip");
    res.losses.push_back(lv);
    loss_sum += lv * b.frames;
    loss_frames += b.frames;
    frames_since += b.frames;

    bool epoch_end = pos == static_cast<int64_t>(batches.size());
    bool stopping = stop_requested().load() || step == o.stop_at;
    if (epoch_end) {
      ++epoch;
      pos = 0;
      double val = evaluate_poly(model, data.valid);
      res.final_val_nll = val;
      bool improved = val < best_val;
      if (improved) {
        best_val = val;
        best_epoch = epoch;
      }
      log_row(val);
      if (improved) save(best);
      if (epoch < o.epochs) {
        batches = poly_epoch_batches(data.train, o.batch, o.seed, epoch);
        shifts = poly_epoch_shifts(data.train, o.transpose, o.seed, epoch);
      }
      save(latest);
      tb.flush();
      if (o.patience > 0 && epoch - best_epoch >= o.patience && epoch < o.epochs) {
        progress.log("no better validation NLL for " + std::to_string(o.patience) + " epochs; stopping at epoch " +
                     std::to_string(epoch));
        res.stopped_early = true;
        break;
      }
    } else if (step % o.log_every == 0 || stopping) {
      log_row(std::nan(""));
    }
    if (stopping) {
      if (!epoch_end) save(latest);
      res.interrupted = true;
      progress.log("stopped at step " + std::to_string(step) + "; continue with --resume");
      break;
    }
  }
  progress.finish();
  if (devnull) std::fclose(devnull);
  res.steps_done = step;
  res.epochs_done = epoch;
  res.best_val_nll = best_val;
  res.best_epoch = best_epoch;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  tb.flush();
  std::vector<std::vector<double>> rows = csv.existing_rows();
  rows.insert(rows.end(), new_rows.begin(), new_rows.end());
  plot_training_curves(o.out_dir + "/loss.png", "cadenza poly " + model_cfg.cell + " training", rows, 0, 2, 4,
                       "train nll", "nats per frame");
  return res;
}

}  // namespace cadenza::models
