// Streams and events on a GPU (ctest label cuda; exit 77, a skip, without
// one): engine/stream.h over the CUDA runtime.
//
// Ordering is made deterministic with gates: a host function queued on a
// stream (cudaLaunchHostFunc) holds that stream until the test opens the
// gate, so "B is not done while A is held" and "the block is not handed out
// while B may still use it" are facts, not timing. Checked:
//   - work on stream B that waits for an event of stream A sees A's result,
//     and B is held while A is;
//   - two streams get their own blocks of the same size; each reuses its own;
//     two host threads, each on its own stream, compute the CPU's values;
//   - record_stream: a block freed on A after B used it is not reused until
//     B's work is done, and is reused by A afterwards;
//   - elapsed_ms of a known GEMM is > 0;
//   - the existing ops (conv1d, matmul, softmax, cross_entropy, LSTM through
//     the persistent and the cuBLAS paths, sum_squares, with backward) give
//     the default stream's values under a StreamGuard.
// --no-gates skips the gated checks (for compute-sanitizer, which may
// serialise streams behind a held one). On the CUDA emulator (tests/cuda_emu,
// which runs each stream's work when it is queued) the gated checks, which
// need work still pending, are skipped too.
#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "engine/rnn.h"
#include "engine/stream.h"
#include "kernels/cuda/runtime.h"

using namespace cadenza;

namespace {

int failures = 0;
void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  if (!ok) ++failures;
}

const Device kGpu{Device::cuda, 0};
const Device kCpu{};

// Holds a stream until open() (or 20 s, which counts as a failure: queuing
// the work after it must not have blocked the host). The flags outlive the
// Gate (never freed): the host function may still read them after an
// exception has ended the Gate's scope.
class Gate {
 public:
  explicit Gate(const Stream& s) : f_(new Flags()) {
    cudaError_t err = cudaLaunchHostFunc(static_cast<cudaStream_t>(s.handle()), &Gate::hold, f_);
    if (err != cudaSuccess)
      throw std::runtime_error(std::string("cudaLaunchHostFunc: ") + cudaGetErrorString(err));
  }
  ~Gate() { open(); }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  void open() { f_->open.store(true); }
  bool timed_out() const { return f_->timed_out.load(); }

 private:
  struct Flags {
    std::atomic<bool> open{false}, timed_out{false};
  };
  static void CUDART_CB hold(void* flags) {
    auto* f = static_cast<Flags*>(flags);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!f->open.load()) {
      if (std::chrono::steady_clock::now() > until) {
        f->timed_out.store(true);
        return;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  Flags* f_;
};

std::vector<double> host_values(const Tensor& t) {
  return t.to(kCpu).to_vector<double>();
}

// max |a - b| / (1 + |b|), and whether it is within eps.
bool close(const std::vector<double>& a, const std::vector<double>& b, double eps,
           const std::string& what) {
  if (a.size() != b.size()) {
    std::printf("  %s: %zu values against %zu\n", what.c_str(), a.size(), b.size());
    return false;
  }
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(a[i] - b[i]) / (1 + std::abs(b[i]));
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
  }
  std::printf("  %s: worst relative difference %.3g\n", what.c_str(), worst);
  return worst <= eps;
}

void check_event_orders_streams() {
  Stream a = Stream::create(kGpu), b = Stream::create(kGpu);
  const int64_t n = int64_t{1} << 24;
  Gate gate(a);
  Event filled;
  Tensor x, total;
  {
    StreamGuard g(a);
    x = Tensor::full({n}, 1.0, DType::f32, kGpu);
    for (int i = 0; i < 4; ++i) x = add(x, x);  // 16 everywhere, once A runs
    filled.record(a);
  }
  {
    StreamGuard g(b);
    filled.wait(b);
    total = x.sum();
    record_stream(x, b);
  }
  check(!a.query() && !b.query(), "while A is held, B (waiting for A's event) is not done either");
  gate.open();
  check(!gate.timed_out(), "queuing the work did not block the host");
  double got = 0;
  {
    StreamGuard g(b);
    got = total.item();
  }
  check(got == 16.0 * static_cast<double>(n),
        "B's sum after the event sees A's values (" + std::to_string(got) + ")");
}

// The CUDA emulator runs queued work at once: nothing is ever pending.
bool on_emulator() {
  cudaDeviceProp p{};
  return cudaGetDeviceProperties(&p, 0) == cudaSuccess &&
         std::strncmp(p.name, "cadenza CUDA emulator", 21) == 0;
}

void check_own_blocks_per_stream() {
  Stream a = Stream::create(kGpu), b = Stream::create(kGpu);
  const Shape shape{3, 1000, 1000};  // 12 MB: one size class
  void* pa = nullptr;
  {
    StreamGuard g(a);
    pa = Tensor::empty(shape, DType::f32, kGpu).raw_data();  // freed at once, cached for A
  }
  void* pb = nullptr;
  {
    StreamGuard g(b);
    Tensor tb = Tensor::empty(shape, DType::f32, kGpu);
    pb = tb.raw_data();
  }
  check(pb != pa, "B does not get the block A freed");
  {
    StreamGuard g(a);
    check(Tensor::empty(shape, DType::f32, kGpu).raw_data() == pa, "A gets its own freed block back");
  }
  {
    StreamGuard g(b);
    check(Tensor::empty(shape, DType::f32, kGpu).raw_data() == pb, "B gets its own freed block back");
  }
  // Two host threads, each with its own stream current, at the same time.
  Generator gen(3);
  Tensor m1 = randn({300, 200}, DType::f32, &gen), m2 = randn({200, 250}, DType::f32, &gen);
  const std::vector<double> want1 = relu(matmul(m1, m2)).to_vector<double>(),
                            want2 = softmax(matmul(m2.transpose(0, 1), m1.transpose(0, 1)), 1)
                                        .to_vector<double>();
  std::vector<double> got1, got2;
  std::string err1, err2;
  auto worker = [&](const Stream& s, bool first, std::vector<double>* out, std::string* err) {
    try {
      StreamGuard g(s);
      Tensor d1 = m1.to(kGpu), d2 = m2.to(kGpu), r;
      for (int i = 0; i < 20; ++i)
        r = first ? relu(matmul(d1, d2))
                  : softmax(matmul(d2.transpose(0, 1), d1.transpose(0, 1)), 1);
      *out = host_values(r);
    } catch (const std::exception& e) {
      *err = e.what();
    }
  };
  std::thread t1(worker, a, true, &got1, &err1), t2(worker, b, false, &got2, &err2);
  t1.join();
  t2.join();
  check(err1.empty() && err2.empty(), "two threads on two streams ran " + err1 + " " + err2);
  check(close(got1, want1, 1e-4, "thread on A") && close(got2, want2, 1e-4, "thread on B"),
        "two threads on two streams compute the CPU's values");
}

void check_record_stream() {
  Stream a = Stream::create(kGpu), b = Stream::create(kGpu);
  const int64_t n = int64_t{3} << 20;  // 12 MB
  const auto before = cuda::allocator_stats(0);
  Gate gate(b);
  Tensor y;
  void* px = nullptr;
  {
    StreamGuard g(a);
    Tensor x = Tensor::full({n}, 3.0, DType::f32, kGpu);
    px = x.raw_data();
    Event made;
    made.record(a);
    {
      StreamGuard gb(b);
      made.wait(b);
      y = add(x, x);  // queued on B, behind the gate
      record_stream(x, b);
    }
  }  // x freed on A while B may still read it
  const auto after = cuda::allocator_stats(0);
  check(after.deferred_frees == before.deferred_frees + 1, "the release was held back for B");
  void* pz = nullptr;
  {
    StreamGuard g(a);
    Tensor z = Tensor::empty({n}, DType::f32, kGpu);
    pz = z.raw_data();
    check(pz != px, "while B may use it, A does not get the block back");
  }
  gate.open();
  b.synchronize();
  check(!gate.timed_out(), "queuing the work did not block the host");
  {
    StreamGuard g(a);
    Tensor w = Tensor::empty({n}, DType::f32, kGpu);
    check(w.raw_data() == px, "once B is done, A reuses the block");
  }
  std::vector<double> v;
  {
    StreamGuard g(b);
    v = host_values(y.narrow(0, 0, 4));
  }
  check(v == std::vector<double>{6, 6, 6, 6}, "B read the values A wrote");
}

void check_elapsed() {
  Stream s = Stream::create(kGpu);
  Tensor m = Tensor::full({2048, 2048}, 0.001, DType::f32, kGpu);  // filled on the default stream
  Event t0(true), t1(true), plain, filled;
  filled.record(default_stream(kGpu));
  {
    StreamGuard g(s);
    filled.wait(s);
    t0.record(s);
    Tensor r = m;
    for (int i = 0; i < 4; ++i) r = matmul(r, m);
    t1.record(s);
    plain.record(s);
    record_stream(m, s);
  }
  const double ms = Event::elapsed_ms(t0, t1);
  std::printf("  4 GEMMs of 2048^3 on a stream: %.3f ms\n", ms);
  check(ms > 0, "elapsed_ms of a known GEMM is > 0");
  check(t1.query() && s.query(), "after elapsed_ms the end event and its stream are done");
  bool refused = false;
  try {
    Event::elapsed_ms(t0, plain);
  } catch (const Error&) {
    refused = true;
  }
  check(refused, "elapsed_ms refuses an event made without timing");
}

struct Results {
  std::vector<std::vector<double>> values;
  std::vector<std::string> names;
};

// A small model's forward and backward on device tensors made from `seed`.
Results run_model(int64_t lstm_batch) {
  Generator gen(11);
  auto dev = [&](const Shape& s) { return randn(s, DType::f32, &gen).to(kGpu).requires_grad_(); };
  Tensor x = dev({4, 6, 33}), w = dev({5, 6, 3}), bias = dev({5});
  Tensor target = Tensor::from_vector<int64_t>({0, 4, 2, 1}).to(kGpu);
  Tensor seq = dev({7, lstm_batch, 8}), w_ih = dev({4 * 16, 8}), w_hh = dev({4 * 16, 16}),
         b_ih = dev({4 * 16}), b_hh = dev({4 * 16});
  Tensor c = conv1d(x, w, bias, 2, 4, 0);
  Tensor m = matmul(c.reshape({20, 33}), c.reshape({20, 33}).transpose(0, 1));
  Tensor loss = add(cross_entropy(c.sum({2}), target), softmax(m, 1).sum());
  Tensor h = lstm_layer(seq, Tensor(), Tensor(), w_ih, w_hh, b_ih, b_hh);
  loss = add(loss, mul(h, h).sum());
  loss.backward();
  const Tensor hc = h.contiguous();
  const int64_t hn = hc.numel();
  const void* hx = hc.raw_data();
  double ss = 0;
  CADENZA_KERNEL(sum_squares, kGpu, DType::f32)(DType::f32, 1, &hn, &hx, &ss);
  Results r;
  r.names = {"conv1d",  "matmul", "loss",  "lstm",       "d conv weight",
             "d input", "d w_hh", "d seq", "sum_squares"};
  r.values = {host_values(c),           host_values(m),          host_values(loss),
              host_values(h),           host_values(w.grad()),   host_values(x.grad()),
              host_values(w_hh.grad()), host_values(seq.grad()), {ss}};
  return r;
}

void check_ops_under_guard() {
  for (int64_t batch : {2, 16}) {  // the persistent recurrence and the cuBLAS one
    const Results want = run_model(batch);
    Stream s = Stream::create(kGpu);
    Results got;
    {
      StreamGuard g(s);
      got = run_model(batch);
    }
    bool all = true;
    for (size_t i = 0; i < want.values.size(); ++i)
      all = close(got.values[i], want.values[i], 1e-6,
                  want.names[i] + " (lstm batch " + std::to_string(batch) + ")") &&
            all;
    check(all, "the ops under a StreamGuard give the default stream's values, LSTM batch " +
                   std::to_string(batch));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (backend::available_backends().size() < 2 || backend::is_emulated(kGpu)) {
    std::puts("skipped: no CUDA backend in this build or no CUDA device on this machine");
    return 77;
  }
  const bool gates = !(argc > 1 && std::strcmp(argv[1], "--no-gates") == 0) && !on_emulator();
  try {
    if (gates) check_event_orders_streams();
    check_own_blocks_per_stream();
    if (gates) check_record_stream();
    check_elapsed();
    check_ops_under_guard();
    synchronize(kGpu);
  } catch (const std::exception& e) {
    std::printf("FAILED: %s\n", e.what());
    return 1;
  }
  return failures ? 1 : 0;
}
