#include "models/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <variant>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/file_io.h"
#include "engine/progress.h"
#include "engine/random.h"
#include "engine/summary.h"
#include "models/trainer_io.h"

namespace cadenza::models {

namespace {

std::string diverged_message(int64_t step, double loss) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "training diverged at step %lld (loss %g); try a lower learning rate or a smaller "
                "gradient-norm clip",
                static_cast<long long>(step), loss);
  return buf;
}

}  // namespace

TrainingDiverged::TrainingDiverged(int64_t step_, double loss_)
    : Error(diverged_message(step_, loss_)), step(step_), loss(loss_) {}

std::atomic<bool>& stop_requested() {
  static std::atomic<bool> flag{false};
  return flag;
}

LrSchedule parse_lr_schedule(const std::string& name) {
  if (name == "cosine") return LrSchedule::kCosine;
  if (name == "constant") return LrSchedule::kConstant;
  if (name == "epoch") return LrSchedule::kEpoch;
  throw OptionError("schedule", "schedule must be cosine, constant or epoch, got '" + name + "'");
}

const char* lr_schedule_name(LrSchedule s) {
  switch (s) {
    case LrSchedule::kCosine: return "cosine";
    case LrSchedule::kConstant: return "constant";
    case LrSchedule::kEpoch: return "epoch";
  }
  return "?";
}

void StepContext::apply(optim::Optimizer& opt) const {
  if (after_backward_ && *after_backward_) (*after_backward_)(opt);
  if (o_ && o_->clip > 0) optim::clip_grad_norm(opt.params(), o_->clip);
  opt.step();
}

void StepContext::update(optim::Optimizer& opt, const Tensor& loss) const {
  opt.zero_grad();
  if (before_backward_ && *before_backward_) (*before_backward_)(opt, loss);
  loss.backward();
  apply(opt);
}

void reduce_sum(const LoopOptions& o, std::vector<double>& v, const std::string& what) {
  if (o.world() > 1) o.comm->allreduce_sum(v.data(), static_cast<int64_t>(v.size()), what);
}

std::pair<int64_t, int64_t> rank_slice(int64_t n, int rank, int world) {
  return {n * rank / world, n * (rank + 1) / world};
}

std::string TrainTask::format_val(double val, double best) const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.4f (best %.4f)", val, std::min(val, best));
  return buf;
}

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// The schedule of an optimizer whose base LR is `base`: linear warmup, then
// the run's schedule over the remaining steps.
std::unique_ptr<optim::Schedule> make_schedule(const LoopOptions& o, double base, int64_t total_steps,
                                               int64_t warmup, int64_t decay_period) {
  std::shared_ptr<optim::Schedule> after;
  switch (o.schedule) {
    case LrSchedule::kConstant:
      after = std::make_shared<optim::StepLR>(base, 1, 1.0);
      break;
    case LrSchedule::kEpoch:
      after = std::make_shared<optim::StepLR>(base, std::max<int64_t>(1, decay_period), o.lr_decay);
      break;
    case LrSchedule::kCosine:
      after = std::make_shared<optim::CosineLR>(base, std::max<int64_t>(1, total_steps - warmup), base * o.min_lr_ratio);
      break;
  }
  return std::make_unique<optim::WarmupLR>(after, warmup);
}

}  // namespace

// The loop's state between steps, and everything it writes.
class TrainingLoop {
 public:
  explicit TrainingLoop(TrainTask& task) : task_(task), o_(task.options()) {}
  TrainResult run();

 private:
  void read_checkpoint();
  void check_options();
  void save(const std::vector<std::string>& paths);
  void log_row(double val, bool evaluated);
  std::string options_json() const;
  NamedTensors model_tensors() const;
  void load_tensors(const LoadedTensors& ck);
  NamedTensors buffers() const;
  NamedTensors state_tensors() const;  // model tensors, then optimizer state
  void check_ranks_agree(const NamedTensors& state);

  std::shared_ptr<dist::Communicator> comm_;
  int rank_ = 0, world_ = 1;
  bool lead_ = true;  // rank 0: logs and writes
  std::unique_ptr<dist::GradientReducer> reducer_;
  // One per optimizer, its hooks on that optimizer's parameters (empty
  // without overlap).
  std::map<const optim::Optimizer*, std::unique_ptr<dist::OverlappedReducer>> overlapped_;
  std::shared_ptr<dist::DeviceCommunicator> device_comm_;  // NCCL, for ranks on GPUs
  StepContext::BackwardHook before_backward_;
  StepContext::OptimizerHook after_backward_;
  TrainTask& task_;
  LoopOptions& o_;
  std::string latest_, best_;
  LoadedTensors ck_;
  int64_t step_ = 0, epoch_ = 0, pos_ = 0, best_step_ = 0, best_epoch_ = 0, since_best_ = 0;
  double best_val_ = std::numeric_limits<double>::infinity();
  int64_t spe_ = 0, total_ = 0, warmup_ = 0;
  std::vector<std::unique_ptr<optim::Schedule>> sched_;  // one per optimizer
  double last_lr_ = 0;

  // Logging between rows.
  std::unique_ptr<CsvLog> csv_;
  std::unique_ptr<SummaryWriter> tb_;
  std::unique_ptr<Progress> progress_;
  FILE* devnull_ = nullptr;
  LogSpec spec_;
  std::vector<std::vector<double>> new_rows_;
  std::chrono::steady_clock::time_point t_start_, t_last_;
  int64_t items_since_ = 0;
  double loss_sum_ = 0, loss_weight_ = 0;
  std::vector<std::pair<std::string, double>> scalar_sums_;
  int64_t scalar_steps_ = 0;
};

std::string TrainingLoop::options_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const OptionField& f : task_.option_fields()) std::visit([&](auto* p) { j[f.name] = *p; }, f.field);
  if (spe_ > 0) j["epochs"] = o_.epochs;
  else j["steps"] = o_.steps;
  j["lr"] = o_.lr;
  j["clip"] = o_.clip;
  j["warmup"] = warmup_;
  j["schedule"] = lr_schedule_name(o_.schedule);
  j["min_lr_ratio"] = o_.min_lr_ratio;
  j["lr_decay"] = o_.lr_decay;
  j["seed"] = o_.seed;
  j["eval_every"] = o_.eval_every;
  j["patience"] = o_.patience;
  return j.dump();
}

// Reads latest.safetensors: its format, the options and config that win over
// the given ones, and the loop's position. Errors name the file.
void TrainingLoop::read_checkpoint() {
  if (world_ == 1) {
    ck_ = load_safetensors(latest_);
  } else {
    // Rank 0 reads the file and hands its bytes to every rank, so the run
    // directory need only be on rank 0's machine.
    std::vector<uint8_t> bytes;
    std::string failure;
    if (lead_) {
      try {
        bytes = read_file(latest_);
      } catch (const std::exception& e) {
        failure = e.what();
      }
    }
    int64_t n = failure.empty() ? static_cast<int64_t>(bytes.size()) : -1;
    comm_->broadcast(&n, sizeof n, 0, "broadcast of the checkpoint's size");
    if (n < 0) {
      if (lead_) throw Error(failure);
      throw Error("rank 0 could not read '" + latest_ + "' to resume");
    }
    bytes.resize(static_cast<size_t>(n));
    comm_->broadcast(bytes.data(), n, 0, "broadcast of '" + latest_ + "'");
    ck_ = load_safetensors_bytes(bytes.data(), bytes.size(), latest_);
  }
  auto need = [&](const char* k) { return need_metadata(ck_, k); };
  const std::string fmt = need("format");
  if (fmt != task_.format())
    throw Error("'" + latest_ + "' is a '" + fmt + "' checkpoint; this trainer resumes '" + task_.format() + "'");
  // A longer (or shorter) run than the saved one, as asked for.
  const int64_t resume_steps = o_.resume_steps, resume_epochs = o_.resume_epochs;
  try {
    auto j = nlohmann::json::parse(need("options"));
    auto cfg = nlohmann::json::parse(need("config"));
    std::vector<std::string> unused;
    std::set<std::string> reads = task_.resume_reads();
    for (const auto& f : o_.given)
      if ((j.contains(f) || cfg.contains(f)) && f != "steps" && f != "epochs" && !reads.count(f))
        unused.push_back(f);
    if (!unused.empty()) {
      if (o_.on_unused) {
        o_.on_unused(unused);
      } else {
        std::string list;
        for (const auto& f : unused) list += (list.empty() ? "" : ", ") + f;
        std::fprintf(stderr, "resume continues with the options saved in the run; not used: %s\n", list.c_str());
      }
    }
    task_.config_from_json(cfg.dump());
    for (const OptionField& f : task_.option_fields())
      std::visit([&](auto* p) { *p = j.at(f.name).get<std::decay_t<decltype(*p)>>(); }, f.field);
    if (j.contains("steps")) o_.steps = j.at("steps");
    if (j.contains("epochs")) o_.epochs = j.at("epochs");
    o_.lr = j.at("lr");
    o_.clip = j.at("clip");
    o_.warmup = j.at("warmup");
    o_.seed = j.at("seed");
    o_.schedule = parse_lr_schedule(j.value("schedule", std::string("cosine")));
    o_.min_lr_ratio = j.value("min_lr_ratio", 0.05);
    o_.lr_decay = j.value("lr_decay", 0.5);
    o_.eval_every = j.value("eval_every", int64_t{0});
    o_.patience = j.value("patience", int64_t{0});
    // Numbers in the metadata, read whole; a bad one is named with its value.
    auto number = [&](const char* k, const std::string& text) {
      size_t used = 0;
      double v = 0;
      try {
        v = std::stod(text, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != text.size())
        throw Error("'" + latest_ + "': bad trainer state in its metadata ('" + k + "' is '" + text +
                    "', not a number)");
      return v;
    };
    auto meta_int = [&](const char* k, int64_t fallback) {
      auto it = ck_.metadata.find(k);
      return it == ck_.metadata.end() ? fallback : static_cast<int64_t>(number(k, it->second));
    };
    step_ = static_cast<int64_t>(number("step", need("step")));
    best_val_ = number("best_val", need("best_val"));
    epoch_ = meta_int("epoch", 0);
    pos_ = meta_int("pos", 0);
    best_step_ = meta_int("best_step", 0);
    best_epoch_ = meta_int("best_epoch", 0);
    since_best_ = meta_int("evals_since_best", epoch_ - best_epoch_);
    const int64_t saved_world = meta_int("world_size", 1);
    if (saved_world != world_)
      throw Error("'" + latest_ + "' was written by a run over " + std::to_string(saved_world) +
                  (saved_world == 1 ? " process" : " ranks") + " (each rank's data position is saved); resume it " +
                  (saved_world == 1 ? "without mpirun" : "with mpirun -np " + std::to_string(saved_world)) +
                  ", not over " + std::to_string(world_) + (world_ == 1 ? " process" : " ranks"));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("'" + latest_ + "': bad trainer state in its metadata (" + e.what() + ")");
  }
  if (resume_steps > 0) o_.steps = resume_steps;
  if (resume_epochs > 0) o_.epochs = resume_epochs;
}

void TrainingLoop::check_options() {
  auto positive = [](const char* name, double v) {
    if (!(v > 0)) throw OptionError(name, std::string(name) + " must be positive, got " + std::to_string(v));
  };
  if (spe_ > 0) positive("epochs", static_cast<double>(o_.epochs));
  else positive("steps", static_cast<double>(o_.steps));
  positive("lr", o_.lr);
  positive("log_every", static_cast<double>(o_.log_every));
  if (!(o_.clip >= 0)) throw OptionError("clip", "clip must be >= 0 (0: no clipping), got " + std::to_string(o_.clip));
  if (o_.eval_every < 0) throw OptionError("eval_every", "eval_every must be >= 0");
  if (o_.patience < 0) throw OptionError("patience", "patience must be >= 0");
  if (!(o_.min_lr_ratio >= 0 && o_.min_lr_ratio <= 1))
    throw OptionError("min_lr_ratio", "min_lr_ratio must be in [0, 1]");
  if (!(o_.lr_decay > 0 && o_.lr_decay <= 1)) throw OptionError("lr_decay", "lr_decay must be in (0, 1]");
}

NamedTensors TrainingLoop::model_tensors() const {
  NamedTensors out;
  for (auto& [prefix, m] : task_.modules())
    for (auto& kv : m->state_dict()) out.emplace_back(prefix + kv.first, kv.second);
  return out;
}

void TrainingLoop::load_tensors(const LoadedTensors& ck) {
  auto mods = task_.modules();
  for (auto& [prefix, m] : mods) load_model_tensors(*m, ck, prefix);
  for (auto& [prefix, opt] : task_.optimizers()) {
    nn::StateDict osd;
    for (auto& kv : ck.tensors)
      if (starts_with(kv.first, prefix)) osd.emplace_back(kv.first.substr(prefix.size()), kv.second);
    try {
      opt->load_state_dict(osd);
    } catch (const Error& e) {
      throw Error("'" + ck.path + "': " + e.what());
    }
  }
  try {
    if (rank_ == 0) {
      task_.load_state(ck);
    } else {
      // This rank's own state, saved under "rank<N>.", in place of rank 0's.
      const std::string pre = "rank" + std::to_string(rank_) + ".";
      LoadedTensors mine;
      mine.path = ck.path;
      mine.metadata = ck.metadata;
      for (auto& kv : ck.metadata)
        if (starts_with(kv.first, pre)) mine.metadata[kv.first.substr(pre.size())] = kv.second;
      for (auto& kv : ck.tensors)
        if (starts_with(kv.first, pre)) mine.tensors.emplace_back(kv.first.substr(pre.size()), kv.second);
        else if (!starts_with(kv.first, "trainer.")) mine.tensors.push_back(kv);
      task_.load_state(mine);
    }
  } catch (const Error& e) {
    throw Error("'" + ck.path + "': " + e.what());
  }
}

NamedTensors TrainingLoop::buffers() const {
  NamedTensors out;
  for (auto& [prefix, m] : task_.modules())
    for (auto& kv : m->named_buffers()) out.emplace_back(prefix + kv.first, kv.second);
  return out;
}

NamedTensors TrainingLoop::state_tensors() const {
  NamedTensors out = model_tensors();
  for (auto& [prefix, opt] : task_.optimizers())
    for (auto& kv : opt->state_dict()) out.emplace_back(prefix + kv.first, kv.second);
  return out;
}

// Every rank must hold bit-identical parameters and optimizer state; a
// difference means the reduction or a task's sharding is broken.
void TrainingLoop::check_ranks_agree(const NamedTensors& state) {
  uint64_t mine = dist::digest(state);
  auto all = comm_->gather(std::string(reinterpret_cast<const char*>(&mine), sizeof mine), 0,
                           "gather of the ranks' state digests");
  double differ = -1;
  if (lead_)
    for (int r = 1; r < world_; ++r)
      if (all[r] != all[0]) {
        differ = r;
        break;
      }
  comm_->broadcast(&differ, sizeof differ, 0, "broadcast of the ranks' agreement");
  if (differ >= 0)
    throw Error("data-parallel ranks diverged: rank " + std::to_string(static_cast<int>(differ)) +
                "'s parameters or optimizer state differ from rank 0's at step " + std::to_string(step_));
}

// Writes the run's state to each of `paths` (best and latest hold the same
// state when an evaluation improved), collected once. With several ranks
// this is collective: the ranks' states are compared, and each rank's own
// task state goes to rank 0, saved under "rank<N>.".
void TrainingLoop::save(const std::vector<std::string>& paths) {
  NamedTensors tensors = state_tensors();
  Metadata meta;
  NamedTensors ranks;
  if (world_ > 1) {
    check_ranks_agree(tensors);
    NamedTensors mine;
    Metadata my_meta;
    if (!lead_) task_.save_state(mine, my_meta);
    std::vector<std::string> all = comm_->gather(lead_ ? std::string() : safetensors_bytes(mine, my_meta), 0,
                                                 "gather of the ranks' trainer state");
    if (!lead_) return;
    meta["world_size"] = std::to_string(world_);
    for (int r = 1; r < world_; ++r) {
      LoadedTensors part = load_safetensors_bytes(reinterpret_cast<const uint8_t*>(all[r].data()), all[r].size(),
                                                  "rank " + std::to_string(r) + "'s trainer state");
      const std::string pre = "rank" + std::to_string(r) + ".";
      for (auto& kv : part.tensors) ranks.emplace_back(pre + kv.first, kv.second);
      for (auto& kv : part.metadata) meta[pre + kv.first] = kv.second;
    }
  }
  task_.save_state(tensors, meta);
  for (auto& kv : tensors)  // the file is written from the host
    if (kv.second.device() != Device{}) kv.second = kv.second.to(Device{});
  tensors.insert(tensors.end(), ranks.begin(), ranks.end());
  meta["config"] = task_.config_json();
  meta["format"] = task_.format();
  meta["options"] = options_json();
  meta["step"] = std::to_string(step_);
  meta["best_val"] = exact_double(best_val_);
  meta["best_step"] = std::to_string(best_step_);
  meta["evals_since_best"] = std::to_string(since_best_);
  if (spe_ > 0) {
    meta["epoch"] = std::to_string(epoch_);
    meta["pos"] = std::to_string(pos_);
    meta["best_epoch"] = std::to_string(best_epoch_);
  }
  for (const std::string& path : paths) save_safetensors(path, tensors, meta);
}

void TrainingLoop::log_row(double val, bool evaluated) {
  auto now = std::chrono::steady_clock::now();
  if (!lead_) {  // rank 0 logs for every rank
    t_last_ = now;
    items_since_ = 0;
    loss_sum_ = loss_weight_ = 0;
    for (auto& s : scalar_sums_) s.second = 0;
    scalar_steps_ = 0;
    return;
  }
  double dt = std::chrono::duration<double>(now - t_last_).count();
  double rate = dt > 0 ? static_cast<double>(items_since_) / dt : 0;
  double elapsed = std::chrono::duration<double>(now - t_start_).count();
  double mean_loss = loss_weight_ > 0 ? loss_sum_ / loss_weight_ : std::nan("");
  std::map<std::string, double> cells = {{"step", static_cast<double>(step_)},
                                         {"epoch", static_cast<double>(epoch_)},
                                         {"loss", mean_loss},
                                         {"lr", last_lr_},
                                         {"val_nll", evaluated ? val : std::nan("")},
                                         {spec_.throughput, rate},
                                         {"elapsed_s", elapsed}};
  for (auto& [name, sum] : scalar_sums_) {
    double mean = scalar_steps_ ? sum / static_cast<double>(scalar_steps_) : std::nan("");
    cells[name] = mean;
    tb_->add_scalar("train/" + name, mean, step_);
  }
  if (evaluated)
    for (auto& [name, v] : task_.eval_cells(val)) cells[name] = v;
  std::vector<double> row;
  for (const auto& c : spec_.columns) {
    auto it = cells.find(c);
    row.push_back(it == cells.end() ? std::nan("") : it->second);
  }
  csv_->row(row);
  new_rows_.push_back(row);
  if (loss_weight_ > 0) tb_->add_scalar(spec_.loss_tag, mean_loss, step_);
  tb_->add_scalar("train/lr", last_lr_, step_);
  tb_->add_scalar("train/" + spec_.throughput, rate, step_);

  Progress::Fields f;
  char buf[64];
  if (spe_ > 0)
    f.emplace_back("epoch", std::to_string(epoch_ + (pos_ == 0 && step_ > 0 ? 0 : 1)) + "/" +
                                std::to_string(o_.epochs));
  std::snprintf(buf, sizeof buf, "%.4f", mean_loss);
  f.emplace_back("loss", buf);
  if (evaluated) f.emplace_back("val_nll", task_.format_val(val, best_val_));
  std::snprintf(buf, sizeof buf, "%.0f", rate);
  f.emplace_back(spec_.throughput_label, buf);
  progress_->update(step_, f);
  t_last_ = now;
  items_since_ = 0;
  loss_sum_ = 0;
  loss_weight_ = 0;
  for (auto& s : scalar_sums_) s.second = 0;
  scalar_steps_ = 0;
}

TrainResult TrainingLoop::run() {
  comm_ = o_.comm ? o_.comm : dist::single_process();
  rank_ = comm_->rank();
  world_ = comm_->size();
  lead_ = rank_ == 0;
  if (lead_) make_dirs(o_.out_dir);
  latest_ = o_.out_dir + "/latest.safetensors";
  best_ = o_.out_dir + "/best.safetensors";
  if (o_.resume) read_checkpoint();
  spe_ = task_.steps_per_epoch();
  check_options();
  total_ = spe_ > 0 ? spe_ * o_.epochs : o_.steps;
  if (o_.warmup < 0) {
    warmup_ = std::min(task_.default_warmup(), total_ / 10);
  } else {
    warmup_ = o_.warmup;
    if (warmup_ >= total_)
      throw OptionError("warmup", "warmup (" + std::to_string(warmup_) + " steps) must be below the run's " +
                                      std::to_string(total_) + " steps");
  }
  if (o_.device != Device{}) {
    if (world_ > 1 && o_.device_per_rank && o_.device.kind == Device::cuda)
      o_.device.index = dist::local_rank(rank_) % backend::backend_for(Device{Device::cuda, 0}).memory.device_count();
    Tensor::zeros({1}, DType::f32, o_.device);  // "cuda:0 is not available: ..." before any work
  }
  manual_seed(o_.seed);  // parameter initialisation
  task_.build(!o_.resume);
  int64_t decay_period = spe_ > 0 ? spe_ : (o_.eval_every > 0 ? o_.eval_every : total_);
  for (auto& [prefix, opt] : task_.optimizers())
    sched_.push_back(make_schedule(o_, opt->lr(), total_, warmup_, decay_period));
  if (o_.resume) {
    load_tensors(ck_);
    ck_ = LoadedTensors{};
  }
  if (o_.device != Device{}) {
    // Built and loaded on the host; moved once, in place (the optimizers
    // hold the same parameter handles).
    for (auto& [prefix, m] : task_.modules()) m->to(o_.device);
    for (auto& [prefix, opt] : task_.optimizers()) opt->to(o_.device);
    task_.moved_to(o_.device);
  }
  if (world_ > 1) {
    // Rank 0's parameters and buffers everywhere (a resumed run loaded the
    // same bytes on every rank; a fresh one may have drawn per-rank).
    // GPU ranks talk over NCCL when it is built (not on the emulated device,
    // whose memory is the host's), else through the host over MPI.
    if (o_.device.kind == Device::cuda && dist::nccl_built() && !backend::is_emulated(o_.device))
      device_comm_ = dist::nccl_group(comm_, o_.device);
    dist::broadcast_tensors(*comm_, model_tensors(), 0, "broadcast of the parameters and buffers", device_comm_.get());
    reducer_ = std::make_unique<dist::GradientReducer>(comm_, o_.bucket_bytes);
    reducer_->use_device(device_comm_);
    if (o_.overlap && dist::overlap_enabled()) {
      // Hooks on the parameters, once: an update's backward starts each
      // bucket's all-reduce as soon as its gradients are final.
      for (auto& [prefix, opt] : task_.optimizers()) {
        auto r = std::make_unique<dist::OverlappedReducer>(comm_, opt->params(), o_.bucket_bytes);
        r->use_device(device_comm_);
        overlapped_[opt] = std::move(r);
      }
      before_backward_ = [this](optim::Optimizer& opt, const Tensor& loss) {
        auto it = overlapped_.find(&opt);
        if (it != overlapped_.end()) it->second->prepare({loss});
      };
    }
    after_backward_ = [this](optim::Optimizer& opt) {
      auto it = overlapped_.find(&opt);
      if (it != overlapped_.end())
        it->second->finish();
      else
        (*reducer_)(opt.params());
      // Buffers (BatchNorm's running statistics) follow rank 0, as
      // PyTorch's DistributedDataParallel has them.
      dist::broadcast_tensors(*comm_, buffers(), 0, "broadcast of the buffers", device_comm_.get());
      if (o_.grad_hook) o_.grad_hook(opt.params());
    };
  } else {
    after_backward_ = [this](optim::Optimizer& opt) {
      if (o_.grad_hook) o_.grad_hook(opt.params());
    };
  }
  if (spe_ > 0 && (pos_ < 0 || pos_ >= spe_))
    throw Error("'" + latest_ + "': position " + std::to_string(pos_) + " is outside the epoch's " +
                std::to_string(spe_) + " batches");

  spec_ = task_.log_spec();
  if (lead_) {
    csv_ = std::make_unique<CsvLog>(o_.out_dir + "/metrics.csv", spec_.columns, o_.resume, static_cast<double>(step_));
    tb_ = std::make_unique<SummaryWriter>(o_.out_dir);
  }
  devnull_ = o_.quiet || !lead_ ? std::fopen("/dev/null", "w") : nullptr;
  progress_ = std::make_unique<Progress>(total_, step_, devnull_ ? devnull_ : stdout);
  if (world_ > 1) {
    std::string batch;
    for (const OptionField& f : task_.option_fields())
      if (f.name == "batch")
        if (auto* b = std::get_if<int64_t*>(&f.field))
          batch = ": batch " + std::to_string(**b) + " per rank, global batch " + std::to_string(**b * world_);
    std::string where;
    if (device_comm_)
      where = "; gradients over " + device_comm_->describe() + " (rank 0)";
    else if (o_.device != Device{})
      where = "; rank 0 on " + o_.device.str() + ", gradients reduced through the host";
    char mb[32];
    std::snprintf(mb, sizeof mb, "%g", static_cast<double>(o_.bucket_bytes) / (1 << 20));
    const std::string how = std::string("; all-reduce ") +
                            (overlapped_.empty() ? "after backward" : "overlapped with backward") +
                            ", in buckets of " + mb + " MiB";
    progress_->log("data-parallel over " + comm_->describe() + batch + where + how);
  }
  TrainResult res;
  res.best_val_nll = best_val_;
  t_start_ = t_last_ = std::chrono::steady_clock::now();

  // A run that patience ended stays ended when resumed with the same length.
  bool at_eval_boundary = spe_ > 0 ? pos_ == 0 : (o_.eval_every > 0 && step_ % o_.eval_every == 0);
  bool finished = o_.resume && o_.patience > 0 && at_eval_boundary && since_best_ >= o_.patience;
  res.stopped_early = finished;
  if (spe_ > 0 && !finished) task_.begin_epoch(epoch_);
  StepContext ctx;
  ctx.o_ = &o_;
  ctx.before_backward_ = &before_backward_;
  ctx.after_backward_ = &after_backward_;
  task_.train_mode();
  while (!finished && step_ < total_) {
    ctx.step = step_;
    ctx.epoch = epoch_;
    ctx.pos = pos_;
    auto opts = task_.optimizers();
    for (size_t i = 0; i < opts.size(); ++i) opts[i].second->set_lr(sched_[i]->lr_at(step_));
    last_lr_ = opts.empty() ? 0 : opts[0].second->lr();
    StepOutcome out = task_.train_step(ctx);
    ++step_;
    if (spe_ > 0) ++pos_;
    bool stop_asked = stop_requested().load();
    if (world_ > 1) {
      // The step's loss and throughput over every rank, and a stop asked
      // on any rank stops all of them at this step.
      std::vector<double> v = {out.loss * out.weight, out.weight, static_cast<double>(out.items),
                               stop_asked ? 1.0 : 0.0};
      for (auto& sc : out.scalars) v.push_back(sc.second);
      comm_->allreduce_sum(v.data(), static_cast<int64_t>(v.size()),
                           "all-reduce of step " + std::to_string(step_) + "'s loss");
      out.loss = v[1] > 0 ? v[0] / v[1] : 0;
      out.weight = v[1];
      out.items = static_cast<int64_t>(v[2]);
      stop_asked = v[3] > 0;
      for (size_t i = 0; i < out.scalars.size(); ++i) out.scalars[i].second = v[4 + i] / world_;
    }
    if (o_.after_step) o_.after_step(step_);
    if (!std::isfinite(out.loss)) throw TrainingDiverged(step_, out.loss);
    res.losses.push_back(out.loss);
    res.last_loss = out.loss;
    loss_sum_ += out.loss * out.weight;
    loss_weight_ += out.weight;
    items_since_ += out.items;
    for (auto& [name, v] : out.scalars) {
      auto it = std::find_if(scalar_sums_.begin(), scalar_sums_.end(), [&](auto& s) { return s.first == name; });
      if (it == scalar_sums_.end()) scalar_sums_.emplace_back(name, v);
      else it->second += v;
    }
    ++scalar_steps_;

    bool epoch_end = spe_ > 0 && pos_ == spe_;
    if (epoch_end) {
      ++epoch_;
      pos_ = 0;
    }
    bool eval_now = step_ == total_ || (o_.eval_every > 0 ? step_ % o_.eval_every == 0 : epoch_end);
    bool stopping = stop_asked || step_ == o_.stop_at;
    if (eval_now) {
      double val = task_.evaluate();
      if (world_ > 1) comm_->broadcast(&val, sizeof val, 0, "broadcast of the evaluation at step " + std::to_string(step_));
      res.final_val_nll = val;
      bool improved = val < best_val_;
      if (improved) {
        best_val_ = val;
        best_step_ = step_;
        best_epoch_ = epoch_;
        since_best_ = 0;
      } else {
        ++since_best_;
      }
      if (lead_) {
        for (auto& [tag, v] : task_.eval_scalars(val)) tb_->add_scalar(tag, v, step_);
        tb_->add_scalar("valid/nll", val, step_);
        task_.on_evaluated(*tb_, step_);
      }
      task_.train_mode();
      log_row(val, true);
      save(improved ? std::vector<std::string>{best_, latest_} : std::vector<std::string>{latest_});
      if (lead_) tb_->flush();
      if (o_.patience > 0 && since_best_ >= o_.patience && step_ < total_) {
        progress_->log("no better validation figure for " + std::to_string(o_.patience) +
                       " evaluations; stopping at step " + std::to_string(step_) +
                       (spe_ > 0 ? " (epoch " + std::to_string(epoch_) + ")" : ""));
        res.stopped_early = true;
        break;
      }
    } else if (step_ % o_.log_every == 0 || stopping) {
      log_row(std::nan(""), false);
    }
    if (stopping) {
      if (!eval_now) save({latest_});
      res.interrupted = true;
      progress_->log("stopped at step " + std::to_string(step_) + "; " + latest_ + " holds the run (resume it to continue)");
      break;
    }
    if (epoch_end && step_ < total_) task_.begin_epoch(epoch_);
  }
  progress_->finish();
  if (devnull_) std::fclose(devnull_);
  res.steps_done = step_;
  res.epochs_done = epoch_;
  res.best_val_nll = best_val_;
  res.best_step = best_step_;
  res.best_epoch = best_epoch_;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start_).count();
  res.world = world_;
  if (!lead_) return res;
  tb_->flush();
  // The loss curve from the whole history (rows of earlier runs included).
  std::vector<std::vector<double>> rows = csv_->existing_rows();
  rows.insert(rows.end(), new_rows_.begin(), new_rows_.end());
  auto col = [&](const std::string& name) {
    auto it = std::find(spec_.columns.begin(), spec_.columns.end(), name);
    return static_cast<size_t>(it - spec_.columns.begin());
  };
  size_t loss_col = col("loss"), val_col = col("val_nll");
  if (loss_col < spec_.columns.size() && val_col < spec_.columns.size())
    plot_training_curves(o_.out_dir + "/loss.png", spec_.title, rows, col("step"), loss_col, val_col,
                         spec_.loss_label, spec_.loss_unit);
  return res;
}

TrainResult run_training(TrainTask& task) { return TrainingLoop(task).run(); }

}  // namespace cadenza::models
