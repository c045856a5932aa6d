// The persistent small-batch recurrences on a GPU (ctest label cuda; exit
// 77, a skip, without one): lstm_recurrent_* and gru_recurrent_* through the
// CUDA backend's table with CADENZA_RNN_PERSISTENT=1 (persistent, or an
// error) and =0 (cuBLAS), each against the CPU kernels and against each
// other, forward and backward, f32 and f64, on odd shapes (B 1, 3, 8; H 5,
// 13, 64; T 1, 7) and W1's layer (H 512, T 32, B 1 and 8). Outputs start as
// NaN, so an element a kernel skips shows; two persistent runs must agree
// bit for bit (fixed summation order). Then the switch itself: =1 names why
// it cannot run B = 9, automatic mode runs B = 9 on cuBLAS, and a bad value
// is refused.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/ops.h"
#include "engine/random.h"

using namespace cadenza;

namespace {
int failures = 0;
void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  if (!ok) ++failures;
}

const Device kGpu{Device::cuda, 0};

Tensor values(const Shape& shape, DType dt, uint64_t seed, double scale = 1.0) {
  Generator g(seed);
  return mul(randn(shape, DType::f64, &g), Tensor::scalar(scale, DType::f64)).to(dt);
}
Tensor poisoned(const Shape& shape, DType dt) {
  return Tensor::full(shape, NAN, dt, kGpu);
}

// |got - want| <= eps + |want| * eps everywhere (NaN fails); prints the worst element.
bool close(const Tensor& got, const Tensor& want, double eps) {
  std::vector<double> a = got.to(Device{}).to_vector<double>(),
                      b = want.to(Device{}).to_vector<double>();
  if (a.size() != b.size()) return false;
  size_t worst = 0;
  double excess = 0;
  bool ok = true;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(a[i] - b[i]), tol = eps + std::abs(b[i]) * eps;
    if (!(d <= tol)) {
      if (ok || d - tol > excess) excess = d - tol, worst = i;
      ok = false;
    }
  }
  if (!ok) std::printf("  element %zu: %.17g against %.17g\n", worst, a[worst], b[worst]);
  return ok;
}
bool all_close(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double eps) {
  bool ok = got.size() == want.size();
  for (size_t i = 0; ok && i < got.size(); ++i) ok = close(got[i], want[i], eps);
  return ok;
}

// CADENZA_RNN_PERSISTENT for one scope (null: unset).
struct PathScope {
  explicit PathScope(const char* value) {
    if (value)
      setenv("CADENZA_RNN_PERSISTENT", value, 1);
    else
      unsetenv("CADENZA_RNN_PERSISTENT");
  }
  ~PathScope() { unsetenv("CADENZA_RNN_PERSISTENT"); }
};

struct LstmInputs {
  Tensor pre, whh, h0, c0, dh_out, dc;
};

// Forward then backward on `dev`: act, h, cells, dgates, dc0, dh0.
std::vector<Tensor> run_lstm(const LstmInputs& in, int64_t T, int64_t B, int64_t H, Device dev) {
  const DType dt = in.pre.dtype();
  const bool gpu = dev.kind != Device::cpu;
  auto out = [&](const Shape& s) { return gpu ? poisoned(s, dt) : Tensor::full(s, NAN, dt); };
  Tensor act = in.pre.to(dev).clone(), whh = in.whh.to(dev), h0 = in.h0.to(dev), c0 = in.c0.to(dev),
         dh_out = in.dh_out.to(dev), dc = in.dc.to(dev).clone();
  Tensor h = out({T, B, H}), cells = out({T, B, H}), dg = out({T, B, 4 * H}), dh0 = out({B, H});
  CADENZA_KERNEL(lstm_recurrent_forward, dev, dt)
  (dt, T, B, H, act.raw_data(), whh.raw_data(), h0.raw_data(), c0.raw_data(), h.raw_data(),
   cells.raw_data(), nullptr, nullptr, 0);
  CADENZA_KERNEL(lstm_recurrent_backward, dev, dt)
  (dt, T, B, H, act.raw_data(), whh.raw_data(), c0.raw_data(), cells.raw_data(), dh_out.raw_data(),
   dc.raw_data(), dh0.raw_data(), dg.raw_data());
  return {act.to(Device{}), h.to(Device{}),  cells.to(Device{}),
          dg.to(Device{}),  dc.to(Device{}), dh0.to(Device{})};
}

struct GruInputs {
  Tensor gx, whh, bhh, h0, dh_out;
};

// h, save, dgx, dgh, dh0.
std::vector<Tensor> run_gru(const GruInputs& in, int64_t T, int64_t B, int64_t H, bool bias,
                            Device dev) {
  const DType dt = in.gx.dtype();
  const bool gpu = dev.kind != Device::cpu;
  auto out = [&](const Shape& s) { return gpu ? poisoned(s, dt) : Tensor::full(s, NAN, dt); };
  Tensor gx = in.gx.to(dev), whh = in.whh.to(dev), bhh = in.bhh.to(dev), h0 = in.h0.to(dev),
         dh_out = in.dh_out.to(dev);
  Tensor h = out({T, B, H}), save = out({T, B, 4 * H}), dgx = out({T, B, 3 * H}),
         dgh = out({T, B, 3 * H}), dh0 = out({B, H});
  CADENZA_KERNEL(gru_recurrent_forward, dev, dt)
  (dt, T, B, H, gx.raw_data(), whh.raw_data(), bias ? bhh.raw_data() : nullptr, h0.raw_data(),
   h.raw_data(), save.raw_data());
  CADENZA_KERNEL(gru_recurrent_backward, dev, dt)
  (dt, T, B, H, whh.raw_data(), h0.raw_data(), h.raw_data(), save.raw_data(), dh_out.raw_data(),
   dgx.raw_data(), dgh.raw_data(), dh0.raw_data());
  return {h.to(Device{}), save.to(Device{}), dgx.to(Device{}), dgh.to(Device{}), dh0.to(Device{})};
}

double eps_for(DType dt, int64_t H) {
  return dt == DType::f64 ? 1e-10 : (H >= 256 ? 3e-4 : 1e-4);
}

std::string shape_name(DType dt, int64_t T, int64_t B, int64_t H) {
  return std::string(dtype_name(dt)) + " T " + std::to_string(T) + ", B " + std::to_string(B) +
         ", H " + std::to_string(H);
}

void check_lstm_case(DType dt, int64_t T, int64_t B, int64_t H) {
  const double ws = 1.0 / std::sqrt(double(H));  // gates neither all saturated nor all linear
  LstmInputs in{values({T, B, 4 * H}, dt, 71), values({4 * H, H}, dt, 72, ws),
                values({B, H}, dt, 73),        values({B, H}, dt, 74),
                values({T, B, H}, dt, 75),     values({B, H}, dt, 76)};
  const std::string what = "lstm_recurrent_forward/backward " + shape_name(dt, T, B, H);
  const std::vector<Tensor> cpu = run_lstm(in, T, B, H, Device{});
  std::vector<Tensor> cublas, persistent, again;
  {
    PathScope s("0");
    cublas = run_lstm(in, T, B, H, kGpu);
  }
  {
    PathScope s("1");
    persistent = run_lstm(in, T, B, H, kGpu);
    again = run_lstm(in, T, B, H, kGpu);
  }
  const double eps = eps_for(dt, H);
  check(all_close(cublas, cpu, eps), what + ": cuBLAS path equals the CPU's");
  check(all_close(persistent, cpu, eps), what + ": persistent path equals the CPU's");
  check(all_close(persistent, cublas, eps), what + ": persistent path equals the cuBLAS path");
  check(all_close(again, persistent, 0.0), what + ": persistent path repeats bit for bit");
}

void check_gru_case(DType dt, int64_t T, int64_t B, int64_t H, bool bias) {
  const double ws = 1.0 / std::sqrt(double(H));
  GruInputs in{values({T, B, 3 * H}, dt, 81), values({3 * H, H}, dt, 82, ws),
               values({3 * H}, dt, 83), values({B, H}, dt, 84), values({T, B, H}, dt, 85)};
  const std::string what =
      "gru_recurrent_forward/backward " + shape_name(dt, T, B, H) + (bias ? ", b_hh" : "");
  const std::vector<Tensor> cpu = run_gru(in, T, B, H, bias, Device{});
  std::vector<Tensor> cublas, persistent, again;
  {
    PathScope s("0");
    cublas = run_gru(in, T, B, H, bias, kGpu);
  }
  {
    PathScope s("1");
    persistent = run_gru(in, T, B, H, bias, kGpu);
    again = run_gru(in, T, B, H, bias, kGpu);
  }
  const double eps = eps_for(dt, H);
  check(all_close(cublas, cpu, eps), what + ": cuBLAS path equals the CPU's");
  check(all_close(persistent, cpu, eps), what + ": persistent path equals the CPU's");
  check(all_close(persistent, cublas, eps), what + ": persistent path equals the cuBLAS path");
  check(all_close(again, persistent, 0.0), what + ": persistent path repeats bit for bit");
}

void check_switch() {
  const DType dt = DType::f32;
  const int64_t T = 2, B = 9, H = 5;
  LstmInputs in{values({T, B, 4 * H}, dt, 1), values({4 * H, H}, dt, 2, 0.5),
                values({B, H}, dt, 3),        values({B, H}, dt, 4),
                values({T, B, H}, dt, 5),     values({B, H}, dt, 6)};
  std::string message;
  {
    PathScope s("1");
    try {
      run_lstm(in, T, B, H, kGpu);
    } catch (const std::exception& e) {
      message = e.what();
      std::printf("  %s\n", e.what());
    }
  }
  check(message.find("CADENZA_RNN_PERSISTENT=1") != std::string::npos &&
            message.find("batch above 8") != std::string::npos,
        "CADENZA_RNN_PERSISTENT=1 at B = 9 is an error that says why");
  {
    PathScope s(nullptr);
    check(all_close(run_lstm(in, T, B, H, kGpu), run_lstm(in, T, B, H, Device{}), 1e-4),
          "automatic mode runs B = 9 (cuBLAS) and equals the CPU");
  }
  message.clear();
  {
    PathScope s("yes");
    try {
      run_lstm(in, T, 3, H, kGpu);
    } catch (const std::exception& e) {
      message = e.what();
    }
  }
  check(message.find("must be 0 or 1") != std::string::npos,
        "CADENZA_RNN_PERSISTENT=yes is refused");
}

}  // namespace

int main(int argc, char** argv) {
  // --quick (the CUDA emulator's run): W1's layer over 3 steps, not 32.
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  if (backend::available_backends().size() < 2) {
    std::puts("skipped: no CUDA backend in this build or no CUDA device on this machine");
    return 77;
  }
  try {
    int k = 0;
    for (DType dt : {DType::f32, DType::f64})
      for (int64_t T : {1, 7})
        for (int64_t B : {1, 3, 8})
          for (int64_t H : {5, 13, 64}) {
            check_lstm_case(dt, T, B, H);
            check_gru_case(dt, T, B, H, ++k % 2 == 0);
          }
    for (DType dt : {DType::f32, DType::f64})
      for (int64_t B : {1, 8}) {  // W1's layer
        check_lstm_case(dt, quick ? 3 : 32, B, 512);
        check_gru_case(dt, quick ? 3 : 32, B, 512, true);
      }
    check_switch();
  } catch (const std::exception& e) {
    std::printf("FAILED: %s\n", e.what());
    return 1;
  }
  std::printf("%d failed\n", failures);
  return failures ? 1 : 0;
}
