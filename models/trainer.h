#pragma once
// The one training loop every cadenza trainer plugs into.
//
// The loop owns what all trainers do alike: the run directory with its
// latest/best checkpoints (written atomically), resume (the format checked,
// the saved options winning), the learning-rate schedule and global-norm
// clipping, the non-finite-loss error, stop requests and early stopping by
// patience, metrics.csv, TensorBoard scalars, the progress line and the loss
// plot, and a gradient hook between backward and the optimizer step (where
// data-parallel training reduces gradients; in one process it is empty).
//
// Data parallelism: give LoopOptions a communicator of several ranks (MPI;
// engine/distributed.h) and every rank runs the same loop on its own shard.
// The loop broadcasts rank 0's parameters and buffers at the start and on
// resume, averages the gradients in fused buckets in the hook, sums each
// step's loss and throughput over the ranks, and lets only rank 0 log and
// write checkpoints; a checkpoint holds each rank's own task state (data
// position, generators) under "rank<N>.", so all ranks resume from one file.
// A task shards its data with options().rank() and world(): a global batch
// of world() x batch examples, drawn the same on every rank, of which rank r
// takes the r-th slice; its evaluate() splits the held-out data and sums
// over the ranks (reduce_sum), or evaluates on rank 0 alone, whose figure
// the loop hands to every rank.
//
// A model plugs in a TrainTask: its module(s) and optimizer(s), one training
// step, an evaluation where lower is better, and whatever else decides the
// next step (carried recurrent state, stream positions, generators), which
// the loop stores in every checkpoint so a resumed run reproduces the losses
// of an uninterrupted one exactly.
//
// Adding a trainer: derive a TrainTask (see token_trainer.cpp or
// poly_trainer.cpp), give it an options struct derived from LoopOptions, and
// call run_training(). Nothing else needs writing.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/distributed.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "engine/summary.h"
#include "engine/tensor.h"

namespace cadenza::models {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::map<std::string, std::string>;

// The loss stopped being finite. The message names the step and what to try.
struct TrainingDiverged : Error {
  TrainingDiverged(int64_t step_, double loss_);
  int64_t step;
  double loss;
};

// Set by a SIGINT handler (the command line installs one); checked after
// every step: the loop saves latest.safetensors and returns.
std::atomic<bool>& stop_requested();

// Between backward and the optimizer step, with the parameters whose
// gradients were just computed.
using GradHook = std::function<void(const std::vector<Tensor>& params)>;

// The learning-rate schedule after the linear warmup:
//   cosine    from lr down to lr * min_lr_ratio over the rest of the run
//   constant  lr
//   epoch     lr * lr_decay^k after k epochs (k evaluations for a task
//             without epochs)
enum class LrSchedule { kCosine, kConstant, kEpoch };
LrSchedule parse_lr_schedule(const std::string& name);  // OptionError("schedule", ...)
const char* lr_schedule_name(LrSchedule s);

// The options of the loop itself. A trainer's options derive from this, so
// the run-shaping fields of both travel in one "options" JSON.
struct LoopOptions {
  std::string out_dir;
  int64_t steps = 2000;        // the run's length, for a task without epochs
  int64_t epochs = 100;        // the run's length, for a task with epochs
  double lr = 1e-3;            // every optimizer's base LR is set from it
  double clip = 1.0;           // global-norm clipping of each update (0: none)
  // Steps of linear warmup. < 0: the task's default, at most a tenth of the
  // run (a default never makes a short run fail); a value given must be
  // below the run's steps.
  int64_t warmup = -1;
  LrSchedule schedule = LrSchedule::kCosine;
  double min_lr_ratio = 0.05;  // cosine ends at lr * min_lr_ratio
  double lr_decay = 0.5;       // epoch schedule: factor per epoch
  uint64_t seed = 1;
  int64_t eval_every = 0;      // steps between evaluations (0: each epoch's end; the run's end always)
  int64_t patience = 0;        // evaluations without a better one before stopping (0: never)
  int64_t log_every = 10;      // steps between progress lines and metrics rows
  bool resume = false;         // continue out_dir/latest.safetensors with its saved options
  int64_t resume_steps = -1;   // with resume: run to this many steps instead of the saved count
  int64_t resume_epochs = -1;  // with resume: run to this many epochs instead of the saved count
  int64_t stop_at = -1;        // act as if stopped after this step (tests)
  bool quiet = false;          // no progress output
  // Where the modules, optimizer state and each step's tensors live. Not a
  // run-shaping option: a run saved on one device resumes on another.
  Device device;
  // With several ranks: each takes CUDA device (its local rank mod the
  // machine's count) instead of `device`'s index ("--device cuda").
  bool device_per_rank = false;
  GradHook grad_hook;          // see GradHook; runs after the data-parallel reduction
  // The ranks this run trains over (null: this process alone).
  std::shared_ptr<dist::Communicator> comm;
  int64_t bucket_bytes = 25 << 20;  // gradient bucket size of the data-parallel all-reduce
  // Overlap that all-reduce with backward (bucket by bucket, as each
  // bucket's gradients become final), else run it after backward. The same
  // values either way; CADENZA_DIST_OVERLAP=0 turns it off as well.
  bool overlap = true;
  // After every step, with the number of steps done (tests inject faults here).
  std::function<void(int64_t steps_done)> after_step;
  // Names of the run-shaping fields the caller chose (e.g. from flags typed):
  // on resume those the saved run overrides are passed to on_unused (by
  // default printed on stderr).
  std::set<std::string> given;
  std::function<void(const std::vector<std::string>& fields)> on_unused;

  int rank() const { return comm ? comm->rank() : 0; }
  int world() const { return comm ? comm->size() : 1; }

  virtual ~LoopOptions() = default;
};

// Sums `v` over the run's ranks in place (nothing in one process); for
// splitting an evaluation.
void reduce_sum(const LoopOptions& o, std::vector<double>& v, const std::string& what);

// The r-th of `world` near-equal slices of [0, n): [begin, end).
std::pair<int64_t, int64_t> rank_slice(int64_t n, int rank, int world);

// What the loop reports when it returns.
struct TrainResult {
  int64_t steps_done = 0, epochs_done = 0;
  int64_t best_step = 0, best_epoch = 0;
  double best_val_nll = 0;   // the best evaluation (lower is better)
  double final_val_nll = 0;  // the last evaluation of this call
  double last_loss = 0;
  double seconds = 0;        // wall-clock of this call
  bool interrupted = false;  // stopped by a request or stop_at; resume continues it
  bool stopped_early = false;
  int world = 1;               // ranks the run trained over
  std::vector<double> losses;  // the loss of every step run in this call (over all ranks)
};

// One optimizer update inside a step, offered by the loop to the task.
class StepContext {
 public:
  int64_t step = 0;   // 0-based index of this step
  int64_t epoch = 0;  // 0-based epoch (tasks with epochs)
  int64_t pos = 0;    // 0-based batch within the epoch (tasks with epochs)
  // zero_grad, loss.backward(), the gradient hook, clipping, opt.step().
  // With several ranks the gradients' all-reduce overlaps the backward.
  void update(optim::Optimizer& opt, const Tensor& loss) const;
  // The same after a backward the task ran itself (gradients in place; the
  // all-reduce runs after it).
  void apply(optim::Optimizer& opt) const;

 private:
  friend class TrainingLoop;
  using OptimizerHook = std::function<void(optim::Optimizer&)>;
  using BackwardHook = std::function<void(optim::Optimizer&, const Tensor& loss)>;
  const LoopOptions* o_ = nullptr;
  const BackwardHook* before_backward_ = nullptr;  // the loop's: arms an overlapped reduction
  const OptimizerHook* after_backward_ = nullptr;  // the loop's: reduction, then the options' hook
};

// What one training step reports.
struct StepOutcome {
  double loss = 0;           // the step's training loss; must be finite
  double weight = 1;         // its weight in the logged mean (e.g. frames)
  int64_t items = 0;         // tokens, frames or samples, for throughput
  std::vector<std::pair<std::string, double>> scalars;  // averaged into train/<name> and CSV columns <name>
};

// How a task's run is logged.
struct LogSpec {
  LogSpec() = default;
  LogSpec(std::string title_, std::string loss_unit_, std::string throughput_, std::string throughput_label_,
          std::vector<std::string> columns_)
      : title(std::move(title_)),
        loss_unit(std::move(loss_unit_)),
        throughput(std::move(throughput_)),
        throughput_label(std::move(throughput_label_)),
        columns(std::move(columns_)) {}
  std::string title = "cadenza training";
  std::string loss_tag = "train/loss";       // TensorBoard tag of the mean loss
  std::string loss_label = "train loss";     // its legend in loss.png
  std::string loss_unit = "nats";            // y axis of loss.png
  std::string throughput = "items_per_s";    // CSV column and train/ tag
  std::string throughput_label = "items/s";  // progress field
  // metrics.csv columns in order. The loop fills step, epoch, loss, lr,
  // val_nll, elapsed_s and the throughput column; others come from the
  // step's scalars or eval_cells().
  std::vector<std::string> columns;
};

// One run-shaping option of a task: its name in the saved options and the
// field that holds it.
struct OptionField {
  std::string name;
  std::variant<int64_t*, int*, double*, bool*, std::string*> field;
};

class TrainTask {
 public:
  virtual ~TrainTask() = default;

  // -- identity and options --------------------------------------------------
  virtual LoopOptions& options() = 0;
  virtual std::string format() const = 0;        // checkpoint "format", e.g. "cadenza.poly_model.v1"
  virtual std::string config_json() const = 0;   // model config, stored as metadata "config"
  // The task's own run-shaping options, saved beside the loop's in the
  // checkpoint's "options" and restored from it on resume.
  virtual std::vector<OptionField> option_fields() { return {}; }
  // On resume, before build(): the saved config replaces the given one.
  // Throw for a config that cannot be used with this run.
  virtual void config_from_json(const std::string& json) = 0;
  // Config fields the task still reads on resume (not reported as unused).
  virtual std::set<std::string> resume_reads() const { return {}; }

  // -- the run -------------------------------------------------------------
  virtual int64_t steps_per_epoch() const { return 0; }  // 0: no epochs; the run is options().steps long
  virtual int64_t default_warmup() const { return 0; }
  // Builds the model(s) and optimizer(s) after the loop seeded the global
  // generator with the run's seed. fresh = false on resume (the loop then
  // loads the saved tensors into them).
  virtual void build(bool fresh) = 0;
  // After the loop moved the modules and the optimizers' state to
  // options().device (after build, and after load_state on resume): move
  // the task's own tensors (carried state, fixed inputs) there too.
  virtual void moved_to(Device device) {}
  // (prefix, module): tensors are saved as prefix + state_dict name. One
  // module is saved without a prefix (PyTorch's names as they are).
  virtual std::vector<std::pair<std::string, nn::Module*>> modules() = 0;
  // (prefix, optimizer): one optimizer is saved under "optim.".
  virtual std::vector<std::pair<std::string, optim::Optimizer*>> optimizers() = 0;
  // Extra state: tensors under "trainer." and metadata; loaded back after build(false).
  virtual void save_state(NamedTensors& tensors, Metadata& meta) const {}
  virtual void load_state(const LoadedTensors& ck) {}
  virtual void begin_epoch(int64_t epoch) {}  // tasks with epochs: before its first step
  virtual StepOutcome train_step(const StepContext& ctx) = 0;
  virtual double evaluate() = 0;              // lower is better (validation NLL)
  virtual void train_mode() {}                // set after an evaluation and at the start

  // -- logging -------------------------------------------------------------
  virtual LogSpec log_spec() const = 0;
  // The validation figure as the progress line shows it.
  virtual std::string format_val(double val, double best) const;
  // Extra CSV cells / TensorBoard scalars of an evaluation (e.g. bits).
  virtual std::vector<std::pair<std::string, double>> eval_cells(double val) const { return {}; }
  virtual std::vector<std::pair<std::string, double>> eval_scalars(double val) const { return {}; }
  // After each evaluation: anything else for TensorBoard (audio clips, ...).
  virtual void on_evaluated(SummaryWriter& tb, int64_t step) {}
};

// Runs (or resumes) the task to the end of its run, a stop request,
// stop_at, or patience.
TrainResult run_training(TrainTask& task);

}  // namespace cadenza::models
