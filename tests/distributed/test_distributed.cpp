// Data-parallel training over MPI. ctest runs this program as
// `mpirun -np 2 --oversubscribe test_distributed`: every rank runs every
// test case in the same order, so the collectives inside them pair up.
// Without mpirun it runs as a group of one, and the cases that need two
// ranks say so and pass nothing off as checked.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "engine/distributed.h"
#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "models/poly_trainer.h"
#include "models/token_trainer.h"
#include "models/wavenet_trainer.h"

using namespace cadenza;
using namespace cadenza::models;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<dist::Communicator> world() {
  static std::shared_ptr<dist::Communicator> w = dist::mpi_launched() ? dist::mpi_world() : dist::single_process();
  return w;
}

bool two_ranks() { return world()->size() == 2; }

std::string run_dir_path(const std::string& name) {
  return std::string(CADENZA_BINARY_DIR) + "/test-tmp/distributed/" + name;
}

// A directory every rank agrees on (rank 0 makes it clean).
std::string run_dir(const std::string& name) {
  std::string d = run_dir_path(name);
  if (world()->rank() == 0) {
    fs::remove_all(d);
    fs::create_directories(d);
  }
  int dummy = 0;
  world()->broadcast(&dummy, sizeof dummy, 0, "test directory ready");
  return d;
}

std::vector<TokenSeq> pattern_pieces(int n, int len, uint64_t seed) {
  Generator g(seed);
  std::vector<TokenSeq> out;
  for (int i = 0; i < n; ++i) {
    TokenSeq p;
    int a = static_cast<int>(uniform_double(&g) * 12);
    for (int k = 0; k < len + i % 5; ++k) p.push_back((a + k % 6) % 12);
    out.push_back(p);
  }
  return out;
}

SequenceModelConfig token_config() {
  SequenceModelConfig c;
  c.vocab = "test";
  c.vocab_size = 12;
  c.cell = "lstm";
  c.embed = 8;
  c.hidden = 16;
  c.layers = 2;
  c.dropout = 0;  // equal runs need equal dropout draws, and ranks draw their own
  return c;
}

// Every tensor of `b` within atol + rtol |b| of `a`'s, model and optimizer
// state alike; trainer state (generators, positions) is left out.
void require_close_checkpoints(const std::string& a_path, const std::string& b_path, double atol, double rtol) {
  LoadedTensors a = load_safetensors(a_path), b = load_safetensors(b_path);
  int compared = 0;
  for (auto& [name, ta] : a.tensors) {
    if (name.rfind("trainer.", 0) == 0 || name.rfind("rank", 0) == 0) continue;
    Tensor tb = b.at(name);
    REQUIRE(ta.shape() == tb.shape());
    Tensor x = ta.to(DType::f64).contiguous(), y = tb.to(DType::f64).contiguous();
    const double* px = x.data<double>();
    const double* py = y.data<double>();
    double worst = 0;
    for (int64_t i = 0; i < x.numel(); ++i)
      worst = std::max(worst, std::abs(px[i] - py[i]) - rtol * std::abs(py[i]));
    INFO(name << ": worst excess over rtol " << worst);
    REQUIRE(worst <= atol);
    ++compared;
  }
  REQUIRE(compared > 4);
}

// Trains `o` over the ranks, and on rank 0 the same run in one process with
// twice the batch: the same losses, validation figure and checkpoint.
template <class Options, class Train>
TrainResult require_equals_one_rank(Options o, const std::string& name, const Train& train) {
  o.comm = world();
  o.out_dir = run_dir(name + "-dp");
  TrainResult dp = train(o);
  REQUIRE(dp.world == 2);
  if (world()->rank() == 0) {
    Options one = o;
    one.comm = nullptr;
    one.batch = o.batch * 2;
    one.out_dir = run_dir_path(name + "-one");
    fs::remove_all(one.out_dir);
    TrainResult single = train(one);
    REQUIRE(single.losses.size() == dp.losses.size());
    for (size_t i = 0; i < dp.losses.size(); ++i) REQUIRE(dp.losses[i] == Approx(single.losses[i]).epsilon(1e-4));
    REQUIRE(dp.final_val_nll == Approx(single.final_val_nll).epsilon(1e-4));
    require_close_checkpoints(one.out_dir + "/latest.safetensors", o.out_dir + "/latest.safetensors", 1e-5, 1e-3);
  }
  return dp;
}

// CADENZA_EMULATE_CUDA=1 while alive: cuda:0 is the CPU's kernels under a
// device's name, with host access refused.
struct EmulatedCuda {
  EmulatedCuda() { ::setenv("CADENZA_EMULATE_CUDA", "1", 1); }
  ~EmulatedCuda() { ::unsetenv("CADENZA_EMULATE_CUDA"); }
};

// Parameters of the given shapes and dtypes on the host and on `dev`, with
// the same random gradients (scaled by rank + 1); parameter `missing` has
// none when `drop` is true.
void twin_parameters(const std::vector<std::pair<Shape, DType>>& specs, size_t missing, bool drop, int rank,
                     Device dev, std::vector<Tensor>& host, std::vector<Tensor>& device) {
  for (size_t k = 0; k < specs.size(); ++k) {
    const auto& [s, dt] = specs[k];
    Tensor g = mul(randn(s, DType::f32), Tensor::scalar(1.0 + rank)).to(dt);
    Tensor ph = Tensor::zeros(s, dt), pd = Tensor::zeros(s, dt, dev);
    ph.requires_grad_(true);
    pd.requires_grad_(true);
    if (!(k == missing && drop)) {
      ph.set_grad(g);
      pd.set_grad(g.to(dev));
    }
    host.push_back(ph);
    device.push_back(pd);
  }
}

// A DeviceCommunicator that reduces through the host on the emulated
// device: the device path of the reducers (packing, reducing in place,
// scaling and scattering on the device) without NCCL in the loop.
struct HostBacked : dist::DeviceCommunicator {
  std::shared_ptr<dist::Communicator> host;
  Device dev;
  int reduces = 0, broadcasts = 0;
  Device device() const override { return dev; }
  std::string describe() const override { return "a stand-in"; }
  void allreduce_sum(Tensor& t, const std::string& what) override {
    REQUIRE(t.device() == dev);
    REQUIRE(t.is_contiguous());
    Tensor h = t.to(Device{}).contiguous();
    if (h.dtype() == DType::f32)
      host->allreduce_sum(h.data<float>(), h.numel(), what);
    else
      host->allreduce_sum(h.data<double>(), h.numel(), what);
    t.copy_(h.to(dev));
    ++reduces;
  }
  void broadcast(Tensor& t, int root, const std::string& what) override {
    Tensor h = t.to(Device{}).contiguous();
    host->broadcast(h.raw_data(), h.numel() * static_cast<int64_t>(dtype_size(h.dtype())), root,
                    what);
    t.copy_(h.to(dev));
    ++broadcasts;
  }
};

}  // namespace

TEST_CASE("distributed: collectives sum, broadcast and gather across the ranks", "[distributed]") {
  auto w = world();
  const int R = w->rank(), N = w->size();
  std::vector<float> f = {1.0f + R, 2.0f * R, -3.0f};
  w->allreduce_sum(f.data(), 3, "test floats");
  REQUIRE(f[0] == Approx(N + N * (N - 1) / 2.0));
  REQUIRE(f[1] == Approx(N * (N - 1)));
  REQUIRE(f[2] == Approx(-3.0 * N));
  std::vector<double> d(1000, 0.5 + R);
  w->allreduce_sum(d.data(), static_cast<int64_t>(d.size()), "test doubles");
  REQUIRE(d[999] == Approx(0.5 * N + N * (N - 1) / 2.0));

  char text[16] = {0};
  if (R == 0) std::strcpy(text, "from rank 0");
  w->broadcast(text, sizeof text, 0, "test broadcast");
  REQUIRE(std::string(text) == "from rank 0");

  auto parts = w->gather(std::string(static_cast<size_t>(R + 1), static_cast<char>('a' + R)), 0, "test gather");
  if (R == 0) {
    REQUIRE(parts.size() == static_cast<size_t>(N));
    for (int r = 0; r < N; ++r) REQUIRE(parts[r] == std::string(static_cast<size_t>(r + 1), static_cast<char>('a' + r)));
  } else {
    REQUIRE(parts.empty());
  }
  REQUIRE_THROWS_WITH(w->broadcast(text, 1, N, "a bad root"), Catch::Contains("a bad root") && Catch::Contains("root rank"));
}

TEST_CASE("distributed: tensors broadcast from rank 0 and gradients averaged in buckets", "[distributed]") {
  auto w = world();
  const int R = w->rank(), N = w->size();
  Tensor a = Tensor::full({5, 7}, 1.0 + R), b = Tensor::full({3}, -2.0 * (R + 1), DType::f64);
  dist::broadcast_tensors(*w, {{"a", a}, {"b", b}}, 0, "test tensors");
  REQUIRE(a.data<float>()[34] == 1.0f);
  REQUIRE(b.data<double>()[2] == -2.0);
  Tensor wrong = Tensor::zeros({5 + R});
  if (N > 1)  // every rank stops, the differing one naming the tensor
    REQUIRE_THROWS_WITH(dist::broadcast_tensors(*w, {{"wrong", wrong}}, 0, "mismatch"),
                        Catch::Contains("mismatch") && Catch::Contains(R == 0 ? "rank(s) differ" : "'wrong'"));

  // Parameters of f32 and f64, one without a gradient on odd ranks; buckets
  // of 48 bytes split them into several all-reduces.
  Tensor p1 = Tensor::zeros({13}), p2 = Tensor::zeros({2, 3}, DType::f64), p3 = Tensor::zeros({11});
  for (Tensor* p : {&p1, &p2, &p3}) p->requires_grad_(true);
  p1.set_grad(Tensor::full({13}, 2.0 * (R + 1)));
  p2.set_grad(Tensor::full({2, 3}, 3.0 + R, DType::f64));
  if (R % 2 == 0) p3.set_grad(Tensor::full({11}, 4.0));
  dist::GradientReducer reduce(w, 48);
  reduce({p1, p2, p3});
  double mean_p1 = 0, mean_p2 = 0, mean_p3 = 0;
  for (int r = 0; r < N; ++r) {
    mean_p1 += 2.0 * (r + 1) / N;
    mean_p2 += (3.0 + r) / N;
    mean_p3 += (r % 2 == 0 ? 4.0 : 0.0) / N;
  }
  REQUIRE(p1.grad().data<float>()[12] == Approx(mean_p1));
  REQUIRE(p2.grad().data<double>()[5] == Approx(mean_p2));
  REQUIRE(p3.grad().data<float>()[0] == Approx(mean_p3));
  REQUIRE(reduce.last_bytes() == 13 * 4 + 11 * 4 + 6 * 8);
  REQUIRE(reduce.last_buckets() == 3);  // f32: p1 alone (52 B, over 48), then p3; f64: p2
}

// Device tensors go through the host: on the emulated device
// (CADENZA_EMULATE_CUDA, the CPU's kernels under cuda:0's name, host access
// refused) the broadcast lands in place and the averaged gradients are the
// CPU path's, bit for bit, and stay on the device.
TEST_CASE("distributed: device tensors broadcast and gradients averaged through the host", "[distributed]") {
  EmulatedCuda emulated;
  auto w = world();
  const int R = w->rank(), N = w->size();
  const Device dev{Device::cuda, 0};
  Tensor a = Tensor::full({5, 7}, 1.0 + R).to(dev), b = Tensor::full({3}, -2.0 * (R + 1), DType::f64).to(dev);
  dist::broadcast_tensors(*w, {{"a", a}, {"b", b}}, 0, "device tensors");
  REQUIRE(a.device() == dev);
  REQUIRE(a.to(Device{}).data<float>()[34] == 1.0f);
  REQUIRE(b.to(Device{}).data<double>()[2] == -2.0);

  // The same odd-sized gradients on the host and on the device, f32 and f64,
  // one missing on even ranks; 48-byte buckets.
  std::vector<Tensor> host, device;
  twin_parameters({{{13}, DType::f32}, {{2, 3}, DType::f64}, {{9}, DType::f32}}, 2, R % 2 == 0, R, dev, host, device);
  dist::GradientReducer on_host(w, 48), on_device(w, 48);
  on_host(host);
  on_device(device);
  REQUIRE(on_device.last_bytes() == on_host.last_bytes());
  REQUIRE(on_device.last_buckets() == on_host.last_buckets());
  for (size_t k = 0; k < host.size(); ++k) {
    Tensor gd = device[k].grad();
    REQUIRE(gd.device() == dev);
    Tensor gh = host[k].grad(), back = gd.to(Device{}).contiguous();
    REQUIRE(back.shape() == gh.shape());
    REQUIRE(std::memcmp(back.raw_data(), gh.raw_data(), gh.numel() * dtype_size(gh.dtype())) == 0);
  }
  if (N > 1) {
    uint64_t mine = dist::digest({{"a", a}});
    uint64_t h = dist::digest({{"a", a.to(Device{})}});
    REQUIRE(mine == h);  // a device tensor's digest is its bytes'
  }
}

// The device path of GradientReducer and broadcast_tensors (what NCCL does
// on GPUs) with a stand-in DeviceCommunicator that reduces through the host
// on the emulated device: the buckets are packed, reduced in place, scaled
// and scattered on the device, and NCCL itself is not in the loop.
TEST_CASE("distributed: gradients reduced by a device communicator equal the host path's", "[distributed]") {
  EmulatedCuda emulated;
  auto w = world();
  const int R = w->rank();
  const Device dev{Device::cuda, 0};
  auto stand_in = std::make_shared<HostBacked>();
  stand_in->host = w;
  stand_in->dev = dev;

  Tensor a = Tensor::full({4, 3}, 1.0 + R).to(dev);
  dist::broadcast_tensors(*w, {{"a", a}}, 0, "device tensors", stand_in.get());
  REQUIRE(stand_in->broadcasts == (w->size() > 1 ? 1 : 0));  // a group of one broadcasts nothing
  REQUIRE(a.to(Device{}).data<float>()[11] == 1.0f);

  std::vector<Tensor> host, device;
  twin_parameters({{{7}, DType::f32}, {{3, 5}, DType::f32}, {{11}, DType::f32}, {{13}, DType::f64}}, 2, R % 2 == 1, R,
                  dev, host, device);
  dist::GradientReducer on_host(w, 64), on_device(w, 64);
  on_device.use_device(stand_in);
  on_host(host);
  on_device(device);
  REQUIRE(stand_in->reduces == on_device.last_buckets());
  REQUIRE(on_device.last_buckets() == on_host.last_buckets());
  for (size_t k = 0; k < host.size(); ++k) {
    Tensor gd = device[k].grad();
    REQUIRE(gd.device() == dev);
    REQUIRE(gd.shape() == host[k].shape());
    // The scaling by 1/N happens on the device here, so compare within rounding.
    Tensor diff = abs(sub(gd.to(Device{}), host[k].grad()));
    REQUIRE(max(diff).item() <= 1e-6 * (1.0 + max(abs(host[k].grad())).item()));
  }
  REQUIRE_THROWS_WITH(dist::nccl_group(w, Device{}), Catch::Contains(dist::nccl_built() ? "not a CUDA device"
                                                                                        : "without NCCL"));
}

TEST_CASE("distributed: LSTM training over 2 ranks equals one rank with twice the batch, bit-identical on both",
          "[distributed]") {
  if (!two_ranks()) {
    WARN("needs mpirun -np 2");
    return;
  }
  auto train = pattern_pieces(23, 40, 1), valid = pattern_pieces(9, 40, 2);
  TokenTrainOptions o;
  o.seq_len = 10;
  o.steps = 8;
  o.lr = 3e-3;
  o.warmup = 2;
  o.eval_every = 4;
  o.val_tokens = 200;  // a cap: the ranks split the groups within it
  o.quiet = true;
  o.batch = 2;
  auto dp = require_equals_one_rank(o, "lstm", [&](const TokenTrainOptions& oo) {
    return train_tokens(token_config(), train, valid, oo);
  });
  REQUIRE(dp.steps_done == 8);
  if (world()->rank() == 0) {
    // The per-rank state is in the one checkpoint, under rank1.
    LoadedTensors ck = load_safetensors(run_dir_path("lstm-dp") + "/latest.safetensors");
    REQUIRE(ck.metadata.at("world_size") == "2");
    REQUIRE(ck.contains("rank1.trainer.rng"));
    REQUIRE(ck.contains("rank1.trainer.h"));
  }
  // Bit-identical state on both ranks: the loop compares the ranks' digests
  // of parameters and optimizer state at every save and throws when they
  // differ (the next case shows it does); here the run saved 3 times.
}

namespace {

// Linear regression on per-rank data; on request rank 1 nudges its
// gradients after the reduction, as a broken reduction would.
struct LineOptions : LoopOptions {
  int64_t batch = 4;
};
class LineTask : public TrainTask {
 public:
  explicit LineTask(LineOptions& o) : o_(o) {}
  LoopOptions& options() override { return o_; }
  std::string format() const override { return "cadenza.test_line.v1"; }
  std::string config_json() const override { return "{}"; }
  std::vector<OptionField> option_fields() override { return {{"batch", &o_.batch}}; }
  void config_from_json(const std::string&) override {}
  void build(bool) override {
    model_ = std::make_unique<nn::Linear>(3, 1);
    opt_ = std::make_unique<optim::Adam>(model_->parameters(), o_.lr);
  }
  std::vector<std::pair<std::string, nn::Module*>> modules() override { return {{"", model_.get()}}; }
  std::vector<std::pair<std::string, optim::Optimizer*>> optimizers() override { return {{"optim.", opt_.get()}}; }
  StepOutcome train_step(const StepContext& ctx) override {
    Generator g(1000 + 10 * static_cast<uint64_t>(ctx.step) + static_cast<uint64_t>(o_.rank()));
    Tensor x = randn({o_.batch, 3}, DType::f32, &g);
    Tensor loss = mse_loss((*model_)(x), sum(x, {1}, true));
    ctx.update(*opt_, loss);
    return {loss.item(), 1.0, o_.batch, {}};
  }
  double evaluate() override { return 1.0; }
  LogSpec log_spec() const override {
    LogSpec s;
    s.columns = {"step", "loss", "lr", "val_nll", "items_per_s", "elapsed_s"};
    return s;
  }

 private:
  LineOptions& o_;
  std::unique_ptr<nn::Linear> model_;
  std::unique_ptr<optim::Adam> opt_;
};

}  // namespace

TEST_CASE("distributed: ranks whose parameters drift apart are caught at the next checkpoint", "[distributed]") {
  if (!two_ranks()) {
    WARN("needs mpirun -np 2");
    return;
  }
  LineOptions o;
  o.steps = 6;
  o.eval_every = 3;
  o.lr = 1e-2;
  o.quiet = true;
  o.comm = world();
  o.out_dir = run_dir("line-ok");
  {
    LineTask task(o);
    REQUIRE(run_training(task).steps_done == 6);
  }
  o.out_dir = run_dir("line-drift");
  o.grad_hook = [&](const std::vector<Tensor>& params) {
    if (o.rank() == 1) params[0].grad().data<float>()[0] += 1e-3f;
  };
  LineTask task(o);
  REQUIRE_THROWS_WITH(run_training(task), Catch::Contains("rank 1") && Catch::Contains("differ from rank 0") &&
                                              Catch::Contains("step 3"));
}

TEST_CASE("distributed: a 2-rank run stopped and resumed gives the losses of an uninterrupted one", "[distributed]") {
  if (!two_ranks()) {
    WARN("needs mpirun -np 2");
    return;
  }
  auto train = pattern_pieces(23, 40, 3), valid = pattern_pieces(6, 40, 4);
  TokenTrainOptions o;
  o.seq_len = 8;
  o.steps = 12;  // crosses an epoch of the 4 streams
  o.lr = 3e-3;
  o.warmup = 2;
  o.eval_every = 4;
  o.quiet = true;
  o.batch = 2;
  o.comm = world();
  o.out_dir = run_dir("lstm-full");
  auto full = train_tokens(token_config(), train, valid, o);
  o.out_dir = run_dir("lstm-split");
  o.stop_at = 5;
  auto first = train_tokens(token_config(), train, valid, o);
  REQUIRE(first.interrupted);
  o.stop_at = -1;
  o.resume = true;
  auto second = train_tokens(token_config(), train, valid, o);
  std::vector<double> joined = first.losses;
  joined.insert(joined.end(), second.losses.begin(), second.losses.end());
  REQUIRE(joined == full.losses);
  REQUIRE(second.final_val_nll == full.final_val_nll);

  // A checkpoint of 2 ranks resumes only over 2.
  if (world()->rank() == 0) {
    TokenTrainOptions alone = o;
    alone.comm = nullptr;
    REQUIRE_THROWS_WITH(train_tokens(token_config(), train, valid, alone),
                        Catch::Contains("over 2 ranks") && Catch::Contains("mpirun -np 2"));
  }
}

TEST_CASE("distributed: poly training over 2 ranks equals one rank, uneven last batch included", "[distributed]") {
  if (!two_ranks()) {
    WARN("needs mpirun -np 2");
    return;
  }
  PolyDataset data;
  data.path = "pattern";
  Generator g(5);
  for (int s = 0; s < 2; ++s)
    for (int i = 0; i < (s == 0 ? 9 : 5); ++i) {  // 9 pieces, global batch 4: the last has one piece
      PolyPiece p;
      p.frames = 7 + i % 4;
      p.keys.assign(p.frames * kPolyKeys, 0);
      int root = 20 + static_cast<int>(uniform_double(&g) * 30);
      for (int64_t t = 0; t < p.frames; ++t)
        for (int iv : {0, 4, 7}) p.keys[t * kPolyKeys + (root + t + iv) % kPolyKeys] = 1;
      (s == 0 ? data.train : data.valid).push_back(p);
    }
  PolyModelConfig cfg;
  cfg.cell = "gru";
  cfg.hidden = 12;
  cfg.layers = 1;
  cfg.dropout = 0;
  PolyTrainOptions o;
  o.batch = 2;
  o.epochs = 2;
  o.lr = 5e-3;
  o.transpose = 0;
  o.quiet = true;
  auto dp = require_equals_one_rank(o, "poly", [&](const PolyTrainOptions& oo) { return train_poly(cfg, data, oo); });
  REQUIRE(dp.steps_done == 6);  // 3 global batches per epoch
}

TEST_CASE("distributed: WaveNet training over 2 ranks equals one rank with twice the batch", "[distributed]") {
  if (!two_ranks()) {
    WARN("needs mpirun -np 2");
    return;
  }
  WaveCorpus data;
  Generator g(9);
  for (int c = 0; c < 5; ++c) {
    WaveClip clip;
    clip.path = "clip" + std::to_string(c);
    for (int i = 0; i < 300 + 40 * c; ++i)
      clip.ids.push_back(static_cast<int32_t>(128 + 60 * std::sin(0.05 * i * (c + 1)) + uniform_double(&g) * 4));
    (c < 4 ? data.train : data.valid).push_back(clip);
  }
  WaveNetConfig cfg;
  cfg.layers = 4;
  cfg.stacks = 1;
  cfg.residual_channels = 8;
  cfg.gate_channels = 16;
  cfg.skip_channels = 8;
  cfg.quantize = 256;
  cfg.dropout = 0;
  WaveNetTrainOptions o;
  o.batch = 2;
  o.crop = 64;
  o.valid_crops = 3;
  o.steps = 6;
  o.eval_every = 3;
  o.lr = 2e-3;
  o.warmup = 1;
  o.quiet = true;
  require_equals_one_rank(o, "wavenet", [&](const WaveNetTrainOptions& oo) { return train_wavenet(cfg, data, oo); });
}

namespace {

// The world's collectives, counting the started (nonblocking) all-reduces.
struct CountingComm : dist::Communicator {
  std::shared_ptr<dist::Communicator> inner;
  int starts = 0;
  explicit CountingComm(std::shared_ptr<dist::Communicator> w) : inner(std::move(w)) {}
  int rank() const override { return inner->rank(); }
  int size() const override { return inner->size(); }
  std::string describe() const override { return inner->describe(); }
  void allreduce_sum(float* d, int64_t n, const std::string& what) override {
    inner->allreduce_sum(d, n, what);
  }
  void allreduce_sum(double* d, int64_t n, const std::string& what) override {
    inner->allreduce_sum(d, n, what);
  }
  std::unique_ptr<dist::PendingCollective> start_allreduce_sum(float* d, int64_t n,
                                                               const std::string& what) override {
    ++starts;
    return inner->start_allreduce_sum(d, n, what);
  }
  std::unique_ptr<dist::PendingCollective> start_allreduce_sum(double* d, int64_t n,
                                                               const std::string& what) override {
    ++starts;
    return inner->start_allreduce_sum(d, n, what);
  }
  void broadcast(void* d, int64_t bytes, int root, const std::string& what) override {
    inner->broadcast(d, bytes, root, what);
  }
  std::vector<std::string> gather(const std::string& mine, int root,
                                  const std::string& what) override {
    return inner->gather(mine, root, what);
  }
  [[noreturn]] void abort(int code) override {
    inner->abort(code);
    std::_Exit(code);  // not reached
  }
};

// Three linear layers and two spare parameters: an f64 one no rank uses,
// and an f32 one only even ranks add to the output. Every rank builds the
// same weights; the input is the rank's own.
struct SmallNet {
  std::vector<Tensor> params;
  Tensor spare64, even_only;
  SmallNet(Device dev) {
    Generator g(7);
    auto make = [&](Shape s, DType dt = DType::f32) {
      Tensor t = mul(randn(s, DType::f32, &g), Tensor::scalar(0.3)).to(dt).to(dev).detach();
      t.requires_grad_(true);
      params.push_back(t);
      return t;
    };
    const std::vector<std::pair<int64_t, int64_t>> layers = {{5, 16}, {16, 16}, {16, 4}};
    for (auto [in, out] : layers) {
      make({out, in});
      make({out});
    }
    spare64 = make({3}, DType::f64);
    even_only = make({4});
  }
  Tensor loss(int rank, int step) const {
    Generator g(100 + 10 * static_cast<uint64_t>(rank) + static_cast<uint64_t>(step));
    Tensor h = randn({6, 5}, DType::f32, &g).to(params[0].device());
    for (int l = 0; l < 3; ++l) h = tanh(linear(h, params[2 * l], params[2 * l + 1]));
    if (rank % 2 == 0) h = add(h, even_only);
    return sum(mul(h, h));
  }
  void zero_grad() const {
    for (const Tensor& p : params) p.zero_grad();
  }
};

void require_same_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    INFO("parameter " << k);
    Tensor ga = a[k].grad(), gb = b[k].grad();
    REQUIRE(ga.defined());
    REQUIRE(gb.defined());
    REQUIRE(ga.device() == a[k].device());
    REQUIRE(gb.device() == b[k].device());
    Tensor ha = ga.to(Device{}).contiguous(), hb = gb.to(Device{}).contiguous();
    REQUIRE(ha.shape() == hb.shape());
    REQUIRE(ha.dtype() == hb.dtype());
    REQUIRE(std::memcmp(ha.raw_data(), hb.raw_data(), ha.numel() * dtype_size(ha.dtype())) == 0);
  }
}

// Two steps of SmallNet on `dev`: the post-backward reducer's gradients
// and the overlapped one's, bit for bit; returns the overlapped reducer's
// buckets started during backward in the last step.
int64_t compare_reducers(const std::shared_ptr<dist::Communicator>& comm, Device dev,
                         std::shared_ptr<dist::DeviceCommunicator> device_comm, bool with_outputs) {
  const int R = comm->rank();
  SmallNet after(dev), overlapped(dev);
  dist::GradientReducer post(comm, 64);
  dist::OverlappedReducer over(comm, overlapped.params, 64);
  post.use_device(device_comm);
  over.use_device(device_comm);
  REQUIRE(over.buckets() >= 6);
  for (int step = 0; step < 2; ++step) {
    after.zero_grad();
    after.loss(R, step).backward();
    post(after.params);
    overlapped.zero_grad();
    Tensor loss = overlapped.loss(R, step);
    over.prepare(with_outputs ? std::vector<Tensor>{loss} : std::vector<Tensor>{});
    loss.backward();
    over.finish();
    require_same_bits(after.params, overlapped.params);
    REQUIRE(over.last_bytes() == post.last_bytes());
    REQUIRE(over.last_buckets() == over.buckets());
  }
  // The spare no rank uses is averaged as zeros; the even ranks' one as
  // their share.
  REQUIRE(overlapped.spare64.grad().to(Device{}).to_vector<double>() ==
          std::vector<double>(3, 0.0));
  return over.last_started_in_backward();
}

}  // namespace

// The overlapped reducer against the post-backward one on a small model
// whose 64-byte buckets make seven all-reduces: the same gradients, bit for
// bit, while buckets start before backward ends. A parameter no rank uses
// and one only some ranks use are averaged as zeros where missing; the
// ranks start their buckets in the same order although their gradients
// arrive differently.
TEST_CASE(
    "distributed: the all-reduce overlapped with backward gives the post-backward reducer's bits",
    "[distributed][overlap]") {
  auto w = world();
  const int64_t started = compare_reducers(w, Device{}, nullptr, true);
  // Given the loss, the unused parameters hold nothing back: all but the
  // first layer's buckets start before finish(), however many ranks.
  REQUIRE(started >= 4);
  // Without it, the spare that no rank uses (second in reverse order) holds
  // back every bucket but the first; the sums are the same.
  compare_reducers(w, Device{}, nullptr, false);
}

TEST_CASE("distributed: the overlapped all-reduce starts while backward still runs",
          "[distributed][overlap]") {
  auto counting = std::make_shared<CountingComm>(world());
  SmallNet net(Device{});
  // The first layer's weight is among the last gradients backward makes
  // final; by then the later layers' buckets must be in flight. (This hook
  // comes first, so it sees the count before the reducer's own hook on it.)
  int started_before_last = -1;
  HookHandle h = register_post_accumulate_grad_hook(
      net.params[0], [&](const Tensor&) { started_before_last = counting->starts; });
  dist::OverlappedReducer over(counting, net.params, 64);
  Tensor loss = net.loss(world()->rank(), 0);
  over.prepare({loss});
  loss.backward();
  REQUIRE(started_before_last >= 3);
  REQUIRE(started_before_last < over.buckets());
  over.finish();
  REQUIRE(counting->starts == over.buckets());
  REQUIRE(over.last_started_in_backward() >= started_before_last);
  h.remove();

  // Without prepare() (a backward the reducer was not told of) it all
  // happens in finish(): nothing started during backward.
  net.zero_grad();
  net.loss(world()->rank(), 1).backward();
  over.finish();
  REQUIRE(over.last_started_in_backward() == 0);
  REQUIRE(counting->starts == 2 * over.buckets());

  // Two backward passes for one prepare() are refused, as DDP refuses them.
  net.zero_grad();
  Tensor twice = net.loss(world()->rank(), 2);
  over.prepare({twice});
  twice.backward(Tensor(), true);
  REQUIRE_THROWS_WITH(twice.backward(), Catch::Contains("twice between prepare() and finish()"));
  over.finish();  // the first pass's all-reduces, which every rank started
}

// On the emulated device: through the host (MPI), and over a stand-in
// DeviceCommunicator (the NCCL path, with the blocking start of the
// default), each bit-identical to the post-backward reducer on the same path.
TEST_CASE("distributed: the overlapped all-reduce of device gradients equals the post-backward one",
          "[distributed][overlap]") {
  EmulatedCuda emulated;
  auto w = world();
  const Device dev{Device::cuda, 0};
  REQUIRE(compare_reducers(w, dev, nullptr, true) >= 4);
  auto stand_in = std::make_shared<HostBacked>();
  stand_in->host = w;
  stand_in->dev = dev;
  REQUIRE(compare_reducers(w, dev, stand_in, true) >= 4);
  REQUIRE(stand_in->reduces > 0);
}

TEST_CASE(
    "distributed: LSTM training overlapped with backward equals training without, bit for bit",
    "[distributed][overlap]") {
  if (!two_ranks()) {
    WARN("needs mpirun -np 2");
    return;
  }
  auto train = pattern_pieces(23, 40, 5), valid = pattern_pieces(6, 40, 6);
  TokenTrainOptions o;
  o.seq_len = 10;
  o.steps = 6;
  o.lr = 3e-3;
  o.warmup = 1;
  o.eval_every = 3;
  o.quiet = true;
  o.batch = 2;
  o.comm = world();
  o.bucket_bytes = 4096;  // several buckets, most started during backward
  o.out_dir = run_dir("lstm-overlap");
  auto on = train_tokens(token_config(), train, valid, o);
  o.overlap = false;
  o.out_dir = run_dir("lstm-after");
  auto off = train_tokens(token_config(), train, valid, o);
  REQUIRE(on.losses == off.losses);
  REQUIRE(on.final_val_nll == off.final_val_nll);
  if (world()->rank() == 0)
    require_close_checkpoints(run_dir_path("lstm-overlap") + "/latest.safetensors",
                              run_dir_path("lstm-after") + "/latest.safetensors", 0, 0);
}
