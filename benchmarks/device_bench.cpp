// The canonical workloads that need only the engine (DESIGN.md: K1, K2, W1,
// and W3 / W3x8 on random weights of the W2 model's sizes)
// on any device, one JSON line per workload in the format of `cadenza bench
// NAME --json` (and of the PyTorch scripts' timing.py), with the device
// added. Built in every configuration, the engine-only one included, so
// scripts/gpu_check.sh times it on a lent GPU beside
// pytorch_conv1d.py / pytorch_lstm.py --device cuda (cuDNN) in the same run.
//
//   device_bench [--device cpu|cuda|cuda:N] [--seconds S] [WORKLOAD ...]
//   workloads: K1_d1 K1_d8 K1_d64 K1_d512 K2_b1 K2_b8 K2_b64 W1 W4 W3 W3x8
//   [W4_fused, a GPU only]
//   [W3_bf16 W3x8_bf16] (default: all but the bf16 ones)
//
// W3 runs the CPU fast generator on the CPU (or an emulated device), and the
// persistent kernel (kernels/cuda/wavenet_generate.h) on a GPU.
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
#include "engine/backend.h"
#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "engine/rnn.h"
#include "engine/threading.h"
#include "kernels/cpu/wavenet_generate.h"

#include <cadenza/config.h>
#if CADENZA_HAVE_CUDA
#include "kernels/cuda/decoder.h"
#include "kernels/cuda/wavenet_generate.h"
#endif

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

// W4: the W1 model sampling 2000 tokens at batch 1 from token 0, one token
// a step through the modules with the state carried, each step's logits
// brought to the host and drawn from (softmax at temperature 1): the path
// of `cadenza sample lstm --device` (pytorch_lstm.py's w4 keeps the draw on
// the device). On the CPU this is not the fused Decoder `cadenza bench W4`
// times.
Workload w4(Device dev) {
  manual_seed(1);
  auto emb = std::make_shared<nn::Embedding>(388, 256);
  auto rnn = std::make_shared<nn::LSTM>(256, 512, 2, /*batch_first=*/true);
  auto out = std::make_shared<nn::Linear>(512, 388);
  for (nn::Module* m : std::initializer_list<nn::Module*>{emb.get(), rnn.get(), out.get()}) {
    m->eval();
    m->to(dev);
  }
  auto gen = std::make_shared<Generator>(2);
  auto run = [=] {
    NoGradGuard ng;
    Tensor h, c;
    int64_t tok = 0;
    std::vector<double> p(388);
    for (int i = 0; i < 2000; ++i) {
      Tensor ids = Tensor::full({1, 1}, static_cast<double>(tok), DType::i64).to(dev);
      nn::RNNOutput r = rnn->forward_rnn(emb->forward(ids), h, c);
      h = r.h_n;
      c = r.c_n;
      Tensor logits = out->forward(r.output).to(Device{}).contiguous();
      const float* l = logits.data<float>();
      const float top = *std::max_element(l, l + 388);
      double total = 0;
      for (int v = 0; v < 388; ++v) total += p[v] = std::exp(static_cast<double>(l[v] - top));
      double target = uniform_double(gen.get()) * total, acc = 0;
      tok = 387;
      for (int v = 0; v < 388; ++v)
        if (target < (acc += p[v])) {
          tok = v;
          break;
        }
    }
  };
  return {run, 2000.0, "2000 tokens", "tokens/s", 1.0};
}

// W4_fused: W4 by the persistent decoder kernel (kernels/cuda/decoder.h),
// the path `cadenza sample lstm --device cuda` takes for an LSTM: every
// token in one launch, on random weights of the W1 model's sizes. A GPU
// only (the CPU's fused decoder is `cadenza bench W4`).
Workload w4_fused(Device dev) {
#if CADENZA_HAVE_CUDA
  if (dev.kind == Device::cuda && !backend::is_emulated(dev)) {
    auto store = std::make_shared<std::vector<std::vector<float>>>();
    store->reserve(16);
    Generator g(5);
    auto fill = [&](int64_t n, double scale) {
      std::vector<float> v = randn({n}, DType::f32, &g).to_vector<float>();
      for (float& x : v) x = static_cast<float>(x * scale);
      store->push_back(std::move(v));
      return store->back().data();
    };
    kmath::dec::Weights w;
    w.V = 388;
    w.H = 512;
    w.L = 2;
    w.table = fill(388 * 2048, 0.5);
    for (int l = 0; l < 2; ++l) {
      w.w_hh.push_back(fill(2048 * 512, 0.044));
      w.w_ih.push_back(l > 0 ? fill(2048 * 512, 0.044) : nullptr);
      w.b.push_back(l > 0 ? fill(2048, 0.044) : nullptr);
    }
    w.w_out = fill(388 * 512, 0.044);
    w.b_out = fill(388, 0.044);
    auto gpu = std::make_shared<kernels::cuda::DecoderDevice>(w, dev.index);
    auto us = std::make_shared<std::vector<double>>(2000);
    for (double& v : *us) v = uniform_double(&g);
    auto run = [gpu, us, store] {
      gpu->reset();
      gpu->generate(2000, 0, *us, 1.0, 0, 1.0, {});
    };
    return {run, 2000.0, "2000 tokens", "tokens/s", 1.0};
  }
#endif
  throw Error("W4_fused runs on a GPU only (" + dev.str() + " is not one)");
}

// W3: the W2 model (2 stacks x 10 layers, dilations 1..512, kernel 2,
// residual 64, gate 128, skip 256, 256 classes) generating 16000 samples of
// `streams` streams, on random weights (the speed does not depend on them).
struct W3Model {
  std::vector<std::vector<float>> store;
  kernels::WaveNetGenWeights w;
  explicit W3Model(uint64_t seed) {
    Generator g(seed);
    auto fill = [&](int64_t n, double scale) {
      Tensor t = randn({n}, DType::f32, &g);
      std::vector<float> v = t.to_vector<float>();
      for (float& x : v) x = static_cast<float>(x * scale);
      store.push_back(std::move(v));
      return store.back().data();
    };
    store.reserve(256);
    w.R = 64;
    w.G = 128;
    w.S = 256;
    w.Q = 256;
    w.K = 2;
    w.input_table = fill(w.Q * w.R, 1.0);
    for (int64_t i = 0; i < 20; ++i) {
      kernels::WaveNetGenLayer l;
      l.dilation = int64_t{1} << (i % 10);
      l.conv_w = fill(w.G * w.R * w.K, 0.09);
      l.conv_b = fill(w.G, 0.1);
      l.out_w = fill(w.R * w.G / 2, 0.125);
      l.out_b = fill(w.R, 0.1);
      l.skip_w = fill(w.S * w.G / 2, 0.125);
      l.skip_b = fill(w.S, 0.1);
      w.layers.push_back(l);
    }
    w.last1_w = fill(w.S * w.S, 0.0625);
    w.last1_b = fill(w.S, 0.1);
    w.last3_w = fill(w.Q * w.S, 0.125);
    w.last3_b = fill(w.Q, 0.1);
  }
};

Workload w3(int64_t streams, bool bf16, Device dev) {
  const int64_t steps = 16000;
  auto m = std::make_shared<W3Model>(3);
  const kernels::WaveNetGenPrecision prec = bf16 ? kernels::WaveNetGenPrecision::bf16 : kernels::WaveNetGenPrecision::f32;
  Generator g(4);
  auto u = std::make_shared<std::vector<double>>(static_cast<size_t>(streams * steps));
  for (double& v : *u) v = uniform_double(&g);
  auto out = std::make_shared<std::vector<int32_t>>(u->size());
  auto ids = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(streams), 128);
  std::function<void()> run;
#if CADENZA_HAVE_CUDA
  if (dev.kind == Device::cuda && !backend::is_emulated(dev)) {
    auto gen = std::make_shared<kernels::cuda::WaveNetGenDevice>(m->w, streams, prec, dev.index);
    run = [=] { gen->run(steps, ids->data(), nullptr, u->data(), 1.0, out->data(), nullptr); };
  }
#endif
  if (!run)
    run = [=] {
      kernels::WaveNetGenState state(m->w, streams, get_num_threads(), kernels::WaveNetGenSplit::automatic, prec);
      kernels::wavenet_generate_run(m->w, state, steps, ids->data(), nullptr, u->data(), 1.0, out->data(), nullptr);
    };
  return {run, static_cast<double>(streams * steps), "run", "samples/s", 1.0};
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
               "[K1_d1 K1_d8 K1_d64 K1_d512 K2_b1 K2_b8 K2_b64 W1 W4 W4_fused W3 W3x8 W3_bf16 W3x8_bf16]\n"
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
  if (names.empty()) names = {"K1_d1", "K1_d8", "K1_d64", "K1_d512", "K2_b1", "K2_b8", "K2_b64", "W1", "W4", "W3", "W3x8"};
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
      else if (n == "W4")
        time_it(n, w4(dev), dev, seconds);
      else if (n == "W4_fused")
        time_it(n, w4_fused(dev), dev, seconds);
      else if (n == "W3" || n == "W3_bf16" || n == "W3x8" || n == "W3x8_bf16")
        time_it(n, w3(n.rfind("W3x8", 0) == 0 ? 8 : 1, n.find("bf16") != std::string::npos, dev), dev, seconds);
      else
        usage("unknown workload " + n);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "device_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
