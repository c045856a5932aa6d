// The canonical workloads that need only the engine (DESIGN.md: K1, K2, W1)
// on any device, one JSON line per workload in the format of `cadenza bench
// NAME --json` (and of the PyTorch scripts' timing.py), with the device
// added. Built in every configuration, the engine-only one included, so
// scripts/gpu_check.sh times it on a lent GPU beside
// pytorch_conv1d.py / pytorch_lstm.py --device cuda (cuDNN) in the same run.
//
//   device_bench [--device cpu|cuda|cuda:N] [--seconds S] [WORKLOAD ...]
//   workloads: K1_d1 K1_d8 K1_d64 K1_d512 K2_b1 K2_b8 K2_b64 W1 (default: all)
//   A K2 name ending in _persistent or _cublas runs with CADENZA_RNN_PERSISTENT
//   set to 1 or 0 (kernels/cuda/rnn.h), so a GPU times both recurrence paths
//   of W1's layer size: K2_b1_persistent K2_b1_cublas K2_b8_persistent K2_b8_cublas
//   (plain K2 names take the automatic choice: persistent at B <= 8).
//
// Timing as timing.py: one warm-up run, then runs until S seconds have
// passed (at least 3), the median; the device is synchronised around each run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "engine/rnn.h"
#include "engine/threading.h"

using namespace cadenza;

namespace {

struct Workload {
  std::function<void()> run;
  double work;  // per run, in units of throughput_unit (times scale)
  const char* unit;
  const char* throughput_unit;
  double scale;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void time_it(const std::string& name, const Workload& w, Device device, double seconds) {
  w.run();  // warm-up (allocator, cuBLAS handles, packing)
  synchronize(device);
  std::vector<double> times;
  double total = 0;
  while (total < seconds || times.size() < 3) {
    auto t0 = std::chrono::steady_clock::now();
    w.run();
    synchronize(device);
    const double dt = seconds_since(t0);
    times.push_back(dt);
    total += dt;
  }
  std::sort(times.begin(), times.end());
  const size_t n = times.size();
  const double med = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
  std::printf(
      "{\"workload\": \"%s\", \"seconds_per_unit\": %.6g, \"throughput\": %.6g, \"unit\": \"%s\", "
      "\"throughput_unit\": \"%s\", \"threads\": %d, \"runs\": %zu, \"device\": \"%s\", \"engine\": \"cadenza\"}\n",
      name.c_str(), med, w.work / med / w.scale, w.unit, w.throughput_unit, get_num_threads(), n, device.str().c_str());
  std::fflush(stdout);
}

// K1: causal dilated conv1d, kernel 2, batch 8, 64 -> 128 channels, length
// 16384, forward and the input, weight and bias gradients. The work counted
// is pytorch_conv1d.py's (the taps' padded columns are not counted).
Workload k1(int64_t dilation, Device dev) {
  const int64_t B = 8, Cin = 64, Cout = 128, T = 16384, K = 2;
  Generator g(1);
  Tensor x = randn({B, Cin, T}, DType::f32, &g).to(dev), w = randn({Cout, Cin, K}, DType::f32, &g).to(dev),
         b = randn({Cout}, DType::f32, &g).to(dev), gy = randn({B, Cout, T}, DType::f32, &g).to(dev);
  for (Tensor* t : {&x, &w, &b}) t->requires_grad_(true);
  auto run = [=] {
    Tensor y = conv1d(x, w, b, dilation, dilation * (K - 1), 0);
    grad({y}, {x, w, b}, {gy});
  };
  return {run, 3.0 * 2 * B * Cout * Cin * (K * T - dilation), "forward+backward", "GFLOP/s", 1e9};
}

// K2: one LSTM layer, input and hidden 512, sequence 128, forward and backward.
Workload k2(int64_t batch, Device dev) {
  manual_seed(1);
  auto lstm = std::make_shared<nn::LSTM>(512, 512, 1);
  lstm->to(dev);
  Generator g(1);
  Tensor x = randn({128, batch, 512}, DType::f32, &g).to(dev), gy = randn({128, batch, 512}, DType::f32, &g).to(dev);
  x.requires_grad_(true);
  std::vector<Tensor> inputs = lstm->parameters();
  inputs.push_back(x);
  auto run = [=] {
    Tensor y = lstm->forward(x);
    grad({y}, inputs, {gy});
  };
  return {run, 3.0 * 2 * 128 * batch * (512 + 512) * 4 * 512, "forward+backward", "GFLOP/s", 1e9};
}

// W1: vocab 388, embedding 256, LSTM 2 x 512, batch 32, sequence 128,
// cross-entropy, clipping at 1, Adam: one training step (pytorch_lstm.py's w1).
Workload w1(Device dev) {
  manual_seed(1);
  auto emb = std::make_shared<nn::Embedding>(388, 256);
  auto rnn = std::make_shared<nn::LSTM>(256, 512, 2, /*batch_first=*/true);
  auto out = std::make_shared<nn::Linear>(512, 388);
  std::vector<Tensor> params;
  for (nn::Module* m : std::initializer_list<nn::Module*>{emb.get(), rnn.get(), out.get()}) {
    m->to(dev);
    for (const Tensor& p : m->parameters()) params.push_back(p);
  }
  auto opt = std::make_shared<optim::Adam>(params, 1e-3);
  Generator g(1);
  Tensor inp = randint(0, 388, {32, 128}, &g).to(dev), tgt = randint(0, 388, {32 * 128}, &g).to(dev);
  auto run = [=] {
    opt->zero_grad();
    Tensor logits = out->forward(rnn->forward(emb->forward(inp)));
    Tensor loss = cross_entropy(reshape(logits, {32 * 128, 388}), tgt);
    loss.backward();
    optim::clip_grad_norm(params, 1.0);
    opt->step();
  };
  return {run, 32.0 * 128, "step", "tokens/s", 1.0};
}

// CADENZA_RNN_PERSISTENT for one workload (null: leave as it is).
struct RnnPathScope {
  explicit RnnPathScope(const char* value) : set_(value != nullptr) {
    if (!set_) return;
    const char* old = std::getenv("CADENZA_RNN_PERSISTENT");
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv("CADENZA_RNN_PERSISTENT", value, 1);
  }
  ~RnnPathScope() {
    if (!set_) return;
    if (had_)
      setenv("CADENZA_RNN_PERSISTENT", old_.c_str(), 1);
    else
      unsetenv("CADENZA_RNN_PERSISTENT");
  }
  RnnPathScope(const RnnPathScope&) = delete;
  RnnPathScope& operator=(const RnnPathScope&) = delete;

 private:
  bool set_, had_ = false;
  std::string old_;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "device_bench: %s\nusage: device_bench [--device cpu|cuda|cuda:N] [--seconds S] [--threads N] "
               "[K1_d1 K1_d8 K1_d64 K1_d512 K2_b1 K2_b8 K2_b64 W1]\n"
               "  (K2_bN_persistent, K2_bN_cublas: K2 on one recurrence path)\n",
               why.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  Device dev;
  double seconds = 2.0;
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--device") {
      try {
        dev = Device::parse(value());
      } catch (const Error& e) {
        usage(e.what());
      }
    } else if (a == "--seconds") {
      seconds = std::atof(value().c_str());
    } else if (a == "--threads") {
      set_num_threads(std::max(1, std::atoi(value().c_str())));
    } else if (a.rfind("--", 0) == 0) {
      usage("unknown flag " + a);
    } else {
      names.push_back(a);
    }
  }
  if (names.empty()) names = {"K1_d1", "K1_d8", "K1_d64", "K1_d512", "K2_b1", "K2_b8", "K2_b64", "W1"};
  try {
    for (const std::string& n : names) {
      if (n.rfind("K1_d", 0) == 0)
        time_it(n, k1(std::atoll(n.c_str() + 4), dev), dev, seconds);
      else if (n.rfind("K2_b", 0) == 0) {
        const bool persistent = ends_with(n, "_persistent"), cublas = ends_with(n, "_cublas");
        RnnPathScope path(persistent ? "1" : (cublas ? "0" : nullptr));
        time_it(n, k2(std::atoll(n.c_str() + 4), dev), dev, seconds);
      }
      else if (n == "W1")
        time_it(n, w1(dev), dev, seconds);
      else
        usage("unknown workload " + n);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "device_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
