#include "train_flags.h"

#include "cli_checks.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "engine/threading.h"

namespace cadenza::cli {

namespace {

void on_sigint(int) { models::stop_requested().store(true); }

template <class T>
std::string shown(const std::map<std::string, std::string>& notes, const std::string& flag, const T& value) {
  auto it = notes.find(flag);
  if (it != notes.end()) return it->second;
  std::ostringstream s;
  s << value;
  return s.str();
}

}  // namespace

std::string flag_to_field(const std::string& flag) {
  std::string f = flag;
  std::replace(f.begin(), f.end(), '-', '_');
  return f;
}

std::string field_to_flag(const std::string& field) {
  std::string f = field;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

bool given(const CLI::App& cmd, const std::string& flag) {
  const CLI::Option* o = cmd.get_option_no_throw("--" + flag);
  return o && o->count() > 0;
}

void TrainFlags::add(CLI::App& cmd, Length length, const models::LoopOptions& d,
                     const std::map<std::string, std::string>& notes) {
  v_ = d;
  schedule_ = models::lr_schedule_name(d.schedule);
  // Each flag is bound to v_ and, when given, copied into the caller's options.
  auto opt = [&](const std::string& flag, auto& var, auto copy, const std::string& help) {
    std::string text = help + " [default: " + shown(notes, flag, var) + "]";
    CLI::Option* o = cmd.add_option("--" + flag, var, text);
    copies_.emplace_back(flag, copy);
    return o;
  };
  cmd.add_option("--out", v_.out_dir, "run directory: checkpoints, metrics.csv, TensorBoard events, loss.png")
      ->required();
  copies_.emplace_back("out", [this](models::LoopOptions& o) { o.out_dir = v_.out_dir; });
  if (length == Length::kSteps) {
    opt("steps", v_.steps, [this](models::LoopOptions& o) {
          o.steps = v_.steps;
          o.resume_steps = v_.steps;
        },
        "training steps (with --resume: extends or shortens the saved run)")
        ->check(positive_number());
  } else {
    opt("epochs", v_.epochs, [this](models::LoopOptions& o) {
          o.epochs = v_.epochs;
          o.resume_epochs = v_.epochs;
        },
        "training epochs (with --resume: extends or shortens the saved run)")
        ->check(positive_number());
  }
  opt("lr", v_.lr, [this](models::LoopOptions& o) { o.lr = v_.lr; }, "peak learning rate (Adam)")
      ->check(positive_number());
  opt("clip", v_.clip, [this](models::LoopOptions& o) { o.clip = v_.clip; },
      "global gradient-norm clipping (0: none)")
      ->check(non_negative_number());
  std::string warmup_default = v_.warmup < 0 ? "the model's, at most a tenth of the run" : std::to_string(v_.warmup);
  cmd.add_option("--warmup", v_.warmup,
                 "steps of linear warmup; a value given must be below the run's steps [default: " +
                     shown(notes, "warmup", warmup_default) + "]")
      ->check(non_negative_number());
  copies_.emplace_back("warmup", [this](models::LoopOptions& o) { o.warmup = v_.warmup; });
  opt("schedule", schedule_, [this](models::LoopOptions& o) { o.schedule = models::parse_lr_schedule(schedule_); },
      "learning rate after warmup: cosine (down to 5% of --lr), constant, or epoch (x --lr-decay per epoch)")
      ->check(CLI::IsMember({"cosine", "constant", "epoch"}));
  opt("lr-decay", v_.lr_decay, [this](models::LoopOptions& o) { o.lr_decay = v_.lr_decay; },
      "--schedule epoch: factor per epoch (per evaluation without epochs)")
      ->check(CLI::Range(1e-9, 1.0));
  opt("seed", v_.seed, [this](models::LoopOptions& o) { o.seed = v_.seed; },
      "seed of initialisation, data order and dropout");
  opt("eval-every", v_.eval_every, [this](models::LoopOptions& o) { o.eval_every = v_.eval_every; },
      "steps between validations (0: at each epoch's end); the best model by validation is best.safetensors")
      ->check(non_negative_number());
  opt("patience", v_.patience, [this](models::LoopOptions& o) { o.patience = v_.patience; },
      "stop after this many validations without improvement (0: never)")
      ->check(non_negative_number());
  opt("log-every", v_.log_every, [this](models::LoopOptions& o) { o.log_every = v_.log_every; },
      "steps between progress lines and metrics.csv rows")
      ->check(positive_number());
  cmd.add_flag("--resume", v_.resume,
               "continue RUN/latest.safetensors with the run's saved options (flags it does not use are named)");
  copies_.emplace_back("resume", [this](models::LoopOptions& o) { o.resume = v_.resume; });
  cmd.add_option("--stop-at", v_.stop_at, "act as if interrupted after this step (tests)")->group("");
  copies_.emplace_back("stop-at", [this](models::LoopOptions& o) { o.stop_at = v_.stop_at; });
  cmd.add_option("--threads", threads_, "CPU threads [default: all cores, or CADENZA_NUM_THREADS]")
      ->check(CLI::Range(1, 1024));
  cmd.add_option("--device", device_,
                 "where the model trains: cpu, cuda or cuda:N (a run saved on one device resumes on another; under "
                 "mpirun, cuda gives each rank the GPU of its local rank)")
      ->capture_default_str();
}

namespace {

// CADENZA_FAULT=RANK:STEP:kill|raise|stall makes that rank die (SIGKILL),
// throw, or stop taking part (sleep) after that step: how the tests check
// that the other ranks stop, by the launcher or by the collectives' timeout.
std::function<void(int64_t)> fault_injection() {
  const char* spec = std::getenv("CADENZA_FAULT");
  if (!spec || !*spec) return {};
  int rank = -1;
  long long step = -1;
  char how[16] = {0};
  if (std::sscanf(spec, "%d:%lld:%15s", &rank, &step, how) != 3 ||
      (std::strcmp(how, "kill") != 0 && std::strcmp(how, "raise") != 0 && std::strcmp(how, "stall") != 0))
    throw UsageError(std::string("CADENZA_FAULT must be RANK:STEP:kill, raise or stall, got '") + spec + "'");
  const int me = process_group() ? process_group()->rank() : 0;
  const std::string mode = how;
  return [=](int64_t done) {
    if (me != rank || done != step) return;
    if (mode == "kill") std::raise(SIGKILL);
    if (mode == "stall") std::this_thread::sleep_for(std::chrono::hours(1));
    throw Error("fault injected after step " + std::to_string(done) + " (CADENZA_FAULT)");
  };
}

}  // namespace

void TrainFlags::apply(const CLI::App& cmd, models::LoopOptions& o) const {
  for (const auto& [flag, copy] : copies_)
    if (given(cmd, flag)) copy(o);
  o.given.clear();
  for (const CLI::Option* opt : cmd.get_options())
    if (opt->count() > 0 && !opt->get_lnames().empty()) o.given.insert(flag_to_field(opt->get_lnames()[0]));
  o.on_unused = [](const std::vector<std::string>& fields) {
    std::vector<std::string> flags;
    for (const auto& f : fields) flags.push_back("--" + field_to_flag(f));
    std::sort(flags.begin(), flags.end());
    std::string list;
    for (const auto& f : flags) list += (list.empty() ? "" : ", ") + f;
    std::fprintf(stderr, "cadenza: --resume continues with the options saved in the run; not used: %s\n",
                 list.c_str());
  };
  apply_threads(threads_);
  o.device = Device::parse(device_);
  o.device_per_rank = device_ == "cuda";  // under mpirun: one GPU per local rank
  o.comm = process_group();
  o.after_step = fault_injection();
}

// SIGINT (Ctrl-C), SIGTERM (a scheduler's or mpirun's stop) and SIGUSR1
// (which mpirun forwards to every rank) all ask the loop to stop after the
// current step and save; under MPI the ranks agree on the step.
void run_with_stop_on_sigint(const std::function<void()>& train) {
  models::stop_requested().store(false);
  const int signals[] = {SIGINT, SIGTERM, SIGUSR1};
  std::vector<void (*)(int)> previous;
  for (int sig : signals) previous.push_back(std::signal(sig, on_sigint));
  auto restore = [&] {
    for (size_t i = 0; i < previous.size(); ++i) std::signal(signals[i], previous[i]);
  };
  try {
    train();
  } catch (...) {
    restore();
    throw;
  }
  restore();
}

void add_threads_flag(CLI::App& cmd, int& threads) {
  cmd.add_option("--threads", threads, "CPU threads [default: all cores, or CADENZA_NUM_THREADS]")
      ->check(CLI::Range(1, 1024));
}

void apply_threads(int threads) {
  if (threads > 0) set_num_threads(threads);
}

}  // namespace cadenza::cli
