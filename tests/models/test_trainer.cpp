// The one training loop (models/trainer.h) on tiny plug-in models: exact
// resume, a stop request mid-run, a non-finite loss, patience, schedules,
// warmup defaults, the gradient hook, and a task with two optimizers that
// takes two critic updates per generator update.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "models/trainer.h"

using namespace cadenza;
using namespace cadenza::models;
namespace fs = std::filesystem;

namespace {

std::string loop_tmpdir(const std::string& name) {
  std::string d = std::string(CADENZA_BINARY_DIR) + "/test-tmp/loop/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

struct TinyOptions : LoopOptions {
  int64_t batch = 8;
  TinyOptions() {
    steps = 24;
    eval_every = 6;
    log_every = 2;
    lr = 5e-2;
    quiet = true;
  }
};

// Linear regression y = x . (1, -2, 0.5) + noise. Each step draws its batch
// from the task's own generator, which the checkpoint carries, so resuming
// must restore it for the losses to match. Switches make it misbehave.
class TinyTask : public TrainTask {
 public:
  explicit TinyTask(TinyOptions& o) : o_(o) {}
  int64_t spe = 0;             // > 0: a task with epochs of this many steps
  int64_t nan_at = -1;         // the step (0-based) whose loss is NaN
  int64_t stop_after = -1;     // request a stop during this step (0-based)
  std::vector<double> evals;   // fixed evaluation results, in order (else the validation MSE)
  std::vector<double> lrs;     // the LR each step ran with
  std::vector<int64_t> epochs_begun;
  size_t eval_calls = 0;

  LoopOptions& options() override { return o_; }
  std::string format() const override { return "cadenza.test_tiny.v1"; }
  std::string config_json() const override { return R"({"in": 3})"; }
  std::vector<OptionField> option_fields() override { return {{"batch", &o_.batch}}; }
  void config_from_json(const std::string& s) override {
    if (nlohmann::json::parse(s).at("in") != 3) throw Error("not a tiny model");
  }
  int64_t steps_per_epoch() const override { return spe; }
  int64_t default_warmup() const override { return 100; }
  void build(bool) override {
    gen_ = std::make_unique<Generator>(o_.seed + 17);
    model_ = std::make_unique<nn::Linear>(3, 1);
    opt_ = std::make_unique<optim::Adam>(model_->parameters(), o_.lr);
  }
  std::vector<std::pair<std::string, nn::Module*>> modules() override { return {{"", model_.get()}}; }
  std::vector<std::pair<std::string, optim::Optimizer*>> optimizers() override { return {{"optim.", opt_.get()}}; }
  void save_state(NamedTensors& t, Metadata&) const override { t.emplace_back("trainer.rng", gen_->state()); }
  void load_state(const LoadedTensors& ck) override { gen_->set_state(ck.at("trainer.rng")); }
  void begin_epoch(int64_t e) override { epochs_begun.push_back(e); }
  StepOutcome train_step(const StepContext& ctx) override {
    lrs.push_back(opt_->lr());
    if (ctx.step == stop_after) stop_requested().store(true);
    auto [x, y] = batch(gen_.get());
    Tensor loss = mse_loss((*model_)(x), y);
    ctx.update(*opt_, loss);
    double v = loss.item();
    if (ctx.step == nan_at) v = std::nan("");
    return {v, 1.0, o_.batch, {}};
  }
  double evaluate() override {
    if (!evals.empty()) return evals[std::min(eval_calls++, evals.size() - 1)];
    NoGradGuard ng;
    Generator g(99);
    auto [x, y] = batch(&g);
    return mse_loss((*model_)(x), y).item();
  }
  LogSpec log_spec() const override {
    LogSpec s;
    s.throughput = "rows_per_s";
    s.columns = {"step", "epoch", "loss", "lr", "val_nll", "rows_per_s", "elapsed_s"};
    return s;
  }
  nn::Linear& model() { return *model_; }

 private:
  std::pair<Tensor, Tensor> batch(Generator* g) const {
    Tensor x = randn({o_.batch, 3}, DType::f32, g);
    Tensor w = Tensor::from_vector<float>({1.0f, -2.0f, 0.5f}, {3, 1});
    Tensor y = add(matmul(x, w), mul(randn({o_.batch, 1}, DType::f32, g), Tensor::scalar(0.1)));
    return {x, y};
  }
  TinyOptions& o_;
  std::unique_ptr<Generator> gen_;
  std::unique_ptr<nn::Linear> model_;
  std::unique_ptr<optim::Adam> opt_;
};

std::vector<float> values(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::vector<float>(c.data<float>(), c.data<float>() + c.numel());
}

}  // namespace

TEST_CASE("loop: a stopped run resumes to exactly the losses of an uninterrupted one", "[models][loop]") {
  for (int64_t spe : {0, 5}) {
    DYNAMIC_SECTION("steps per epoch " << spe) {
      TinyOptions o;
      o.warmup = 3;
      o.epochs = 5;
      o.out_dir = loop_tmpdir("full");
      TinyTask full(o);
      full.spe = spe;
      auto a = run_training(full);
      REQUIRE(a.steps_done == (spe ? 25 : 24));
      REQUIRE(a.losses.back() < a.losses.front());
      for (auto f : {"latest.safetensors", "best.safetensors", "metrics.csv", "loss.png"})
        REQUIRE(fs::exists(o.out_dir + "/" + f));

      TinyOptions p;
      p.warmup = 3;
      p.epochs = 5;
      p.out_dir = loop_tmpdir("parts");
      p.stop_at = 7;  // mid-epoch, between evaluations
      TinyTask first(p);
      first.spe = spe;
      auto b = run_training(first);
      REQUIRE(b.interrupted);
      REQUIRE(b.steps_done == 7);
      p.stop_at = -1;
      p.resume = true;
      TinyTask second(p);
      second.spe = spe;
      auto c = run_training(second);
      REQUIRE_FALSE(c.interrupted);
      std::vector<double> joined = b.losses;
      joined.insert(joined.end(), c.losses.begin(), c.losses.end());
      REQUIRE(joined == a.losses);
      std::vector<double> lrs = first.lrs;
      lrs.insert(lrs.end(), second.lrs.begin(), second.lrs.end());
      REQUIRE(lrs == full.lrs);
      REQUIRE(c.best_val_nll == a.best_val_nll);
      REQUIRE(values(second.model().weight) == values(full.model().weight));
      if (spe) REQUIRE(second.epochs_begun.front() == 1);  // resumed inside epoch 1 (step 7 of 5-step epochs)
      // metrics.csv holds each step's row once, the resumed rows after the first run's.
      std::ifstream csv(p.out_dir + "/metrics.csv");
      std::string header, line;
      std::getline(csv, header);
      REQUIRE(header == "step,epoch,loss,lr,val_nll,rows_per_s,elapsed_s");
      int64_t last = 0, rows = 0;
      while (std::getline(csv, line)) {
        int64_t s = std::stoll(line.substr(0, line.find(',')));
        REQUIRE(s > last);
        last = s;
        ++rows;
      }
      REQUIRE(last == a.steps_done);
      REQUIRE(rows >= 10);
    }
  }
}

TEST_CASE("loop: a stop request saves latest and returns; the run resumes from it", "[models][loop]") {
  TinyOptions o;
  o.out_dir = loop_tmpdir("stop");
  TinyTask t(o);
  t.stop_after = 4;
  auto r = run_training(t);
  stop_requested().store(false);
  REQUIRE(r.interrupted);
  REQUIRE(r.steps_done == 5);
  auto ck = load_safetensors(o.out_dir + "/latest.safetensors");
  REQUIRE(ck.metadata.at("step") == "5");
  REQUIRE(ck.contains("optim.step"));
  REQUIRE(ck.contains("trainer.rng"));
  o.resume = true;
  TinyTask again(o);
  auto r2 = run_training(again);
  REQUIRE(r2.steps_done == 24);
  REQUIRE(r2.losses.size() == 19);
}

TEST_CASE("loop: a non-finite loss stops the run with the step and what to try", "[models][loop]") {
  TinyOptions o;
  o.out_dir = loop_tmpdir("nan");
  TinyTask t(o);
  t.nan_at = 8;
  try {
    run_training(t);
    FAIL("no error");
  } catch (const TrainingDiverged& e) {
    REQUIRE(e.step == 9);
    REQUIRE(std::string(e.what()).find("diverged at step 9 (loss nan)") != std::string::npos);
    REQUIRE(std::string(e.what()).find("lower learning rate") != std::string::npos);
  }
  // The last good checkpoint (step 6's evaluation) is intact.
  REQUIRE(load_safetensors(o.out_dir + "/latest.safetensors").metadata.at("step") == "6");
}

TEST_CASE("loop: patience stops after that many evaluations without improvement, and stays stopped", "[models][loop]") {
  TinyOptions o;
  o.steps = 60;
  o.patience = 2;
  o.out_dir = loop_tmpdir("patience");
  TinyTask t(o);
  t.evals = {5, 4, 3, 3.5, 3.2, 1.0};  // best at the 3rd evaluation (step 18)
  auto r = run_training(t);
  REQUIRE(r.stopped_early);
  REQUIRE(r.steps_done == 30);
  REQUIRE(r.best_val_nll == 3);
  REQUIRE(r.best_step == 18);
  REQUIRE(load_safetensors(o.out_dir + "/best.safetensors").metadata.at("step") == "18");
  o.resume = true;
  TinyTask again(o);
  auto r2 = run_training(again);
  REQUIRE(r2.stopped_early);
  REQUIRE(r2.losses.empty());
  // Patience counts epochs for a task with epochs (one evaluation each).
  TinyOptions e;
  e.out_dir = loop_tmpdir("patience-epochs");
  e.eval_every = 0;  // at each epoch's end
  e.epochs = 50;
  e.patience = 3;
  TinyTask te(e);
  te.spe = 4;
  te.evals = {2, 1, 1.5, 1.2, 1.1, 0.5};
  auto re = run_training(te);
  REQUIRE(re.stopped_early);
  REQUIRE(re.epochs_done == 5);
  REQUIRE(re.best_epoch == 2);
}

TEST_CASE("loop: schedules, and a default warmup that never makes a short run fail", "[models][loop]") {
  SECTION("default warmup is scaled to a tenth of the run; a given one must fit") {
    TinyOptions o;
    o.steps = 30;  // the task's default warmup is 100 steps
    o.out_dir = loop_tmpdir("warmup");
    TinyTask t(o);
    run_training(t);
    REQUIRE(t.lrs[0] == Approx(o.lr / 3));  // warmup 3 = 30 / 10
    REQUIRE(t.lrs[2] == Approx(o.lr));
    TinyOptions bad;
    bad.steps = 30;
    bad.warmup = 30;
    bad.out_dir = loop_tmpdir("warmup-bad");
    TinyTask tb(bad);
    try {
      run_training(tb);
      FAIL("no error");
    } catch (const OptionError& e) {
      REQUIRE(e.option == "warmup");
      REQUIRE(std::string(e.what()) == "warmup (30 steps) must be below the run's 30 steps");
    }
  }
  SECTION("constant, cosine and per-epoch decay") {
    TinyOptions o;
    o.warmup = 0;
    o.steps = 20;
    o.schedule = LrSchedule::kConstant;
    o.out_dir = loop_tmpdir("constant");
    TinyTask c(o);
    run_training(c);
    for (double lr : c.lrs) REQUIRE(lr == o.lr);
    o.schedule = LrSchedule::kCosine;
    o.out_dir = loop_tmpdir("cosine");
    TinyTask cos(o);
    run_training(cos);
    REQUIRE(cos.lrs[0] == o.lr);
    REQUIRE(cos.lrs[10] == Approx(o.lr * (0.05 + 0.95 * 0.5)));
    REQUIRE(cos.lrs[19] < cos.lrs[18]);
    o.schedule = LrSchedule::kEpoch;
    o.lr_decay = 0.5;
    o.epochs = 3;
    o.out_dir = loop_tmpdir("epoch");
    TinyTask ep(o);
    ep.spe = 4;
    run_training(ep);
    REQUIRE(ep.lrs.size() == 12);
    REQUIRE(ep.lrs[3] == o.lr);
    REQUIRE(ep.lrs[4] == Approx(o.lr / 2));
    REQUIRE(ep.lrs[11] == Approx(o.lr / 4));
    REQUIRE_THROWS_AS(parse_lr_schedule("linear"), OptionError);
  }
}

TEST_CASE("loop: the gradient hook runs between backward and every optimizer step", "[models][loop]") {
  TinyOptions o;
  o.out_dir = loop_tmpdir("hook");
  int calls = 0;
  // What a data-parallel run does there (averaging across processes), here
  // with a world of one that contributes nothing: the parameters never move.
  o.grad_hook = [&](const std::vector<Tensor>& params) {
    ++calls;
    NoGradGuard ng;
    for (const Tensor& p : params) {
      REQUIRE(p.grad().defined());
      Tensor g = p.grad();
      float* d = g.data<float>();
      for (int64_t i = 0; i < g.numel(); ++i) d[i] = 0;
    }
  };
  TinyTask t(o);
  manual_seed(o.seed);
  nn::Linear fresh(3, 1);
  run_training(t);
  REQUIRE(calls == 24);
  REQUIRE(values(t.model().weight) == values(fresh.weight));
}

TEST_CASE("loop: resume checks the format, names the options it does not use, and lets saved ones win",
          "[models][loop]") {
  TinyOptions o;
  o.out_dir = loop_tmpdir("resume-checks");
  o.stop_at = 3;
  TinyTask t(o);
  run_training(t);
  TinyOptions r;
  r.out_dir = o.out_dir;
  r.resume = true;
  r.batch = 2;
  r.lr = 0.5;
  r.given = {"batch", "lr", "steps"};
  std::vector<std::string> unused;
  r.on_unused = [&](const std::vector<std::string>& f) { unused = f; };
  TinyTask again(r);
  run_training(again);
  REQUIRE(unused == std::vector<std::string>{"batch", "lr"});
  REQUIRE(r.batch == 8);
  REQUIRE(again.lrs.back() < 5e-2);

  // Another trainer's checkpoint is refused by name.
  auto ck = load_safetensors(o.out_dir + "/latest.safetensors");
  auto meta = ck.metadata;
  meta["format"] = "cadenza.other.v1";
  std::string other = loop_tmpdir("other");
  save_safetensors(other + "/latest.safetensors", ck.tensors, meta);
  TinyOptions x;
  x.out_dir = other;
  x.resume = true;
  TinyTask tx(x);
  REQUIRE_THROWS_WITH(run_training(tx), Catch::Contains("latest.safetensors' is a 'cadenza.other.v1' checkpoint"));
  // Bad numbers in the trainer state are named.
  meta = ck.metadata;
  meta["step"] = "seven";
  save_safetensors(other + "/latest.safetensors", ck.tensors, meta);
  TinyTask ty(x);
  REQUIRE_THROWS_WITH(run_training(ty), Catch::Contains("bad trainer state in its metadata ('step' is 'seven'"));
  // A missing checkpoint names the file.
  TinyOptions m;
  m.out_dir = loop_tmpdir("missing");
  m.resume = true;
  TinyTask tm(m);
  REQUIRE_THROWS_WITH(run_training(tm), Catch::Contains("missing/latest.safetensors"));
}

namespace {

// Two networks, two optimizers, and two critic updates per generator update,
// as a WGAN trainer takes them.
class TwoOptTask : public TrainTask {
 public:
  explicit TwoOptTask(TinyOptions& o) : o_(o) {}
  LoopOptions& options() override { return o_; }
  std::string format() const override { return "cadenza.test_two.v1"; }
  std::string config_json() const override { return "{}"; }
  void config_from_json(const std::string&) override {}
  void build(bool) override {
    gen_ = std::make_unique<Generator>(o_.seed + 5);
    g_ = std::make_unique<nn::Linear>(2, 2);
    d_ = std::make_unique<nn::Linear>(2, 1);
    opt_g_ = std::make_unique<optim::Adam>(g_->parameters(), o_.lr);
    opt_d_ = std::make_unique<optim::Adam>(d_->parameters(), o_.lr * 2);
  }
  std::vector<std::pair<std::string, nn::Module*>> modules() override {
    return {{"generator.", g_.get()}, {"critic.", d_.get()}};
  }
  std::vector<std::pair<std::string, optim::Optimizer*>> optimizers() override {
    return {{"optim.generator.", opt_g_.get()}, {"optim.critic.", opt_d_.get()}};
  }
  void save_state(NamedTensors& t, Metadata&) const override { t.emplace_back("trainer.rng", gen_->state()); }
  void load_state(const LoadedTensors& ck) override { gen_->set_state(ck.at("trainer.rng")); }
  StepOutcome train_step(const StepContext& ctx) override {
    double critic = 0;
    for (int k = 0; k < 2; ++k) {
      Tensor real = add(randn({4, 2}, DType::f32, gen_.get()), Tensor::scalar(1.0));
      Tensor fake = (*g_)(randn({4, 2}, DType::f32, gen_.get())).detach();
      Tensor loss = sub(mean((*d_)(fake)), mean((*d_)(real)));
      ctx.update(*opt_d_, loss);
      critic += loss.item();
    }
    Tensor gl = neg(mean((*d_)((*g_)(randn({4, 2}, DType::f32, gen_.get())))));
    ctx.update(*opt_g_, gl);
    g_lrs.push_back(opt_g_->lr());
    d_lrs.push_back(opt_d_->lr());
    return {gl.item(), 1.0, 4, {{"critic_loss", critic / 2}}};
  }
  double evaluate() override {
    NoGradGuard ng;
    Generator g(3);
    return mean((*g_)(randn({16, 2}, DType::f32, &g))).item();
  }
  LogSpec log_spec() const override {
    LogSpec s;
    s.columns = {"step", "loss", "critic_loss", "lr", "val_nll", "items_per_s", "elapsed_s"};
    return s;
  }
  std::vector<double> g_lrs, d_lrs;
  std::unique_ptr<optim::Adam> opt_g_, opt_d_;
  std::unique_ptr<nn::Linear> g_, d_;

 private:
  TinyOptions& o_;
  std::unique_ptr<Generator> gen_;
};

}  // namespace

TEST_CASE("loop: a task with two optimizers and two updates of one per step resumes exactly", "[models][loop]") {
  TinyOptions o;
  o.steps = 12;
  o.warmup = 2;
  o.clip = 0.5;
  o.out_dir = loop_tmpdir("two-full");
  TwoOptTask full(o);
  auto a = run_training(full);
  REQUIRE(full.opt_d_->step_count() == 2 * full.opt_g_->step_count());
  REQUIRE(full.opt_g_->step_count() == 12);
  // Each optimizer follows the schedule from its own base LR.
  for (size_t i = 0; i < full.g_lrs.size(); ++i) REQUIRE(full.d_lrs[i] == Approx(2 * full.g_lrs[i]));
  auto ck = load_safetensors(o.out_dir + "/latest.safetensors");
  REQUIRE(ck.contains("generator.weight"));
  REQUIRE(ck.contains("critic.bias"));
  REQUIRE(ck.contains("optim.generator.step"));
  REQUIRE(ck.contains("optim.critic.step"));
  std::ifstream csv(o.out_dir + "/metrics.csv");
  std::string header, row;
  std::getline(csv, header);
  std::getline(csv, row);
  REQUIRE(header == "step,loss,critic_loss,lr,val_nll,items_per_s,elapsed_s");
  REQUIRE(row.substr(row.find(',') + 1).substr(0, 1) != ",");  // loss
  std::string rest = row.substr(row.find(',') + 1);
  rest = rest.substr(rest.find(',') + 1);
  REQUIRE(rest.substr(0, 1) != ",");  // the critic loss column is filled

  TinyOptions p = o;
  p.out_dir = loop_tmpdir("two-parts");
  p.stop_at = 5;
  TwoOptTask first(p);
  run_training(first);
  p.stop_at = -1;
  p.resume = true;
  TwoOptTask second(p);
  auto c = run_training(second);
  REQUIRE(c.steps_done == 12);
  REQUIRE(second.opt_d_->step_count() == 24);
  REQUIRE(values(second.g_->weight) == values(full.g_->weight));
  REQUIRE(values(second.d_->weight) == values(full.d_->weight));
  REQUIRE(c.final_val_nll == a.final_val_nll);
}
