// The CUDA backend on a machine with a GPU (ctest label cuda; exit 77, a
// skip, without one): tensors made on the device, zeroed, moved there and
// back through the pinned staging path, the elementwise kernels, GEMM, and
// the error of an op that has no CUDA kernel yet. The gated activation,
// indexing, conv1d, batch_norm and LSTM/GRU recurrence kernels are called
// through the backend table on device buffers and compared with the CPU
// kernels on odd shapes (5, 7, 11, 13), every dtype an entry takes and, for
// conv1d, dilations 1, 2 and 7, kernel sizes 1, 2 and 3, causal and
// symmetric padding, with and without a bias; outputs start as NaN, so an
// element a kernel skips shows. The batch_norm and recurrent layers' front
// ends run on device tensors too (outputs, scratch and gradients on the
// device), against the same calls on the CPU.
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "engine/rnn.h"

using namespace cadenza;

namespace {
int failures = 0;
void check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}
void check(bool ok, const std::string& what) { check(ok, what.c_str()); }

const Device kGpu{Device::cuda, 0};

// Values from `seed` as `dt` (integers: normal * 5, truncated).
Tensor values(const Shape& shape, DType dt, uint64_t seed) {
  Generator g(seed);
  Tensor t = randn(shape, DType::f64, &g);
  if (!is_floating(dt)) t = mul(t, Tensor::scalar(5.0, DType::f64));
  return t.to(dt);
}

// A device tensor of NaN (or -1 for integers) that a kernel must overwrite.
Tensor poisoned(const Shape& shape, DType dt) { return Tensor::full(shape, is_floating(dt) ? NAN : -1.0, dt, kGpu); }

// |got - want| <= eps + |want| * eps everywhere (NaN fails); prints the worst element.
bool close(const Tensor& got, const Tensor& want, double eps) {
  std::vector<double> a = got.to(Device{}).to_vector<double>(), b = want.to_vector<double>();
  if (a.size() != b.size()) return false;
  size_t worst = 0;
  double excess = 0;
  bool ok = true;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(a[i] - b[i]), tol = eps + std::abs(b[i]) * eps;
    if (!(d <= tol)) {
      if (ok || !(d - tol <= excess)) excess = d - tol, worst = i;
      ok = false;
    }
  }
  if (!ok) std::printf("  element %zu: %.17g against %.17g\n", worst, a[worst], b[worst]);
  return ok;
}

double eps_for(DType dt) { return dt == DType::f64 ? 1e-10 : 1e-4; }

const int64_t* index_ptr(const Tensor& t) { return static_cast<const int64_t*>(t.raw_data()); }

void check_gated_activation() {
  const int64_t shapes[][3] = {{2, 5, 11}, {1, 7, 13}, {3, 1, 5}};
  for (DType dt : {DType::f32, DType::f64})
    for (const auto& sh : shapes) {
      const int64_t B = sh[0], C = sh[1], T = sh[2];
      Tensor x = values({B, 2 * C, T}, dt, 31), g = values({B, C, T}, dt, 32);
      Tensor y = Tensor::empty({B, C, T}, dt), dx = Tensor::empty({B, 2 * C, T}, dt);
      CADENZA_KERNEL(gated_activation_forward, Device{}, dt)(dt, B, C, T, x.raw_data(), y.raw_data());
      CADENZA_KERNEL(gated_activation_backward, Device{}, dt)(dt, B, C, T, x.raw_data(), g.raw_data(), dx.raw_data());
      Tensor xd = x.to(kGpu), gd = g.to(kGpu), yd = poisoned({B, C, T}, dt), dxd = poisoned({B, 2 * C, T}, dt);
      CADENZA_KERNEL(gated_activation_forward, kGpu, dt)(dt, B, C, T, xd.raw_data(), yd.raw_data());
      CADENZA_KERNEL(gated_activation_backward, kGpu, dt)(dt, B, C, T, xd.raw_data(), gd.raw_data(), dxd.raw_data());
      const std::string what = std::string("gated_activation ") + dtype_name(dt) + " [" + std::to_string(B) + ", " +
                               std::to_string(2 * C) + ", " + std::to_string(T) + "]";
      check(close(yd, y, eps_for(dt)), what + " forward equals the CPU's");
      check(close(dxd, dx, eps_for(dt)), what + " backward equals the CPU's");
    }
}

// x: [outer, N, inner]; L rows picked, with repeats (so the adds collide).
void check_index() {
  const int64_t shapes[][4] = {{5, 7, 11, 13}, {1, 13, 1, 5}, {7, 5, 1, 11}};
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64})
    for (const auto& sh : shapes) {
      const int64_t outer = sh[0], N = sh[1], inner = sh[2], L = sh[3];
      std::vector<int64_t> rows(static_cast<size_t>(L)), elems(static_cast<size_t>(outer * L * inner));
      for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>((i * 5 + 3) % N);
      for (size_t i = 0; i < elems.size(); ++i) elems[i] = static_cast<int64_t>((i * 7 + i / 3) % N);
      Tensor ri = Tensor::from_vector<int64_t>(rows), ei = Tensor::from_vector<int64_t>(elems);
      Tensor rid = ri.to(kGpu), eid = ei.to(kGpu);
      Tensor x = values({outer, N, inner}, dt, 41), src = values({outer, L, inner}, dt, 42), xd = x.to(kGpu),
             srcd = src.to(kGpu);
      const double eps = is_floating(dt) ? eps_for(dt) : 0.0;
      const std::string what = std::string(" ") + dtype_name(dt) + " [" + std::to_string(outer) + ", " +
                               std::to_string(N) + ", " + std::to_string(inner) + "], L = " + std::to_string(L);

      Tensor sel = Tensor::empty({outer, L, inner}, dt), seld = poisoned({outer, L, inner}, dt);
      CADENZA_KERNEL(index_select_forward, Device{}, dt)(dt, outer, N, inner, x.raw_data(), index_ptr(ri), L,
                                                         sel.raw_data());
      CADENZA_KERNEL(index_select_forward, kGpu, dt)(dt, outer, N, inner, xd.raw_data(), index_ptr(rid), L,
                                                     seld.raw_data());
      check(close(seld, sel, 0.0), "index_select" + what);

      Tensor gat = Tensor::empty({outer, L, inner}, dt), gatd = poisoned({outer, L, inner}, dt);
      CADENZA_KERNEL(gather_forward, Device{}, dt)(dt, outer, N, inner, x.raw_data(), index_ptr(ei), L,
                                                   gat.raw_data());
      CADENZA_KERNEL(gather_forward, kGpu, dt)(dt, outer, N, inner, xd.raw_data(), index_ptr(eid), L,
                                               gatd.raw_data());
      check(close(gatd, gat, 0.0), "gather" + what);

      Tensor add = x.clone(), addd = x.to(kGpu);
      CADENZA_KERNEL(index_add_forward, Device{}, dt)(dt, outer, N, inner, add.raw_data(), index_ptr(ri), L,
                                                      src.raw_data());
      CADENZA_KERNEL(index_add_forward, kGpu, dt)(dt, outer, N, inner, addd.raw_data(), index_ptr(rid), L,
                                                  srcd.raw_data());
      check(close(addd, add, eps), "index_add" + what);

      Tensor sca = x.clone(), scad = x.to(kGpu);
      CADENZA_KERNEL(scatter_add_forward, Device{}, dt)(dt, outer, N, inner, sca.raw_data(), index_ptr(ei), L,
                                                        src.raw_data());
      CADENZA_KERNEL(scatter_add_forward, kGpu, dt)(dt, outer, N, inner, scad.raw_data(), index_ptr(eid), L,
                                                    srcd.raw_data());
      check(close(scad, sca, eps), "scatter_add" + what);
    }
}

struct ConvCase {
  int64_t B, Cin, T, Cout, K, dilation, pad_left, pad_right;
  bool bias;
};

void check_conv1d_case(DType dt, const ConvCase& c) {
  const int64_t To = c.T + c.pad_left + c.pad_right - c.dilation * (c.K - 1);
  if (To < 1) return;
  const kernels::Conv1dShape s{c.B, c.Cin, c.T, c.Cout, c.K, c.dilation, c.pad_left, To};
  Tensor x = values({c.B, c.Cin, c.T}, dt, 51), w = values({c.Cout, c.Cin, c.K}, dt, 52);
  Tensor b = values({c.Cout}, dt, 53), g = values({c.B, c.Cout, To}, dt, 54);
  Tensor xd = x.to(kGpu), wd = w.to(kGpu), bd = b.to(kGpu), gd = g.to(kGpu);
  const std::string what = std::string(dtype_name(dt)) + " B " + std::to_string(c.B) + ", Cin " +
                           std::to_string(c.Cin) + ", T " + std::to_string(c.T) + ", Cout " + std::to_string(c.Cout) +
                           ", K " + std::to_string(c.K) + ", dilation " + std::to_string(c.dilation) + ", padding " +
                           std::to_string(c.pad_left) + "+" + std::to_string(c.pad_right) +
                           (c.bias ? ", bias" : ", no bias");
  const double eps = eps_for(dt);

  Tensor y = Tensor::empty({c.B, c.Cout, To}, dt), yd = poisoned({c.B, c.Cout, To}, dt);
  CADENZA_KERNEL(conv1d_forward, Device{}, dt)(dt, s, x.raw_data(), w.raw_data(), c.bias ? b.raw_data() : nullptr,
                                               y.raw_data());
  CADENZA_KERNEL(conv1d_forward, kGpu, dt)(dt, s, xd.raw_data(), wd.raw_data(), c.bias ? bd.raw_data() : nullptr,
                                           yd.raw_data());
  check(close(yd, y, eps), "conv1d_forward " + what);

  Tensor dx = Tensor::empty({c.B, c.Cin, c.T}, dt), dxd = poisoned({c.B, c.Cin, c.T}, dt);
  CADENZA_KERNEL(conv1d_backward_input, Device{}, dt)(dt, s, g.raw_data(), w.raw_data(), dx.raw_data());
  CADENZA_KERNEL(conv1d_backward_input, kGpu, dt)(dt, s, gd.raw_data(), wd.raw_data(), dxd.raw_data());
  check(close(dxd, dx, eps), "conv1d_backward_input " + what);

  Tensor dw = Tensor::empty({c.Cout, c.Cin, c.K}, dt), dwd = poisoned({c.Cout, c.Cin, c.K}, dt);
  CADENZA_KERNEL(conv1d_backward_weight, Device{}, dt)(dt, s, g.raw_data(), x.raw_data(), dw.raw_data());
  CADENZA_KERNEL(conv1d_backward_weight, kGpu, dt)(dt, s, gd.raw_data(), xd.raw_data(), dwd.raw_data());
  check(close(dwd, dw, eps), "conv1d_backward_weight " + what);

  Tensor db = Tensor::empty({c.Cout}, dt), dbd = poisoned({c.Cout}, dt);
  CADENZA_KERNEL(conv1d_backward_bias, Device{}, dt)(dt, s, g.raw_data(), db.raw_data());
  CADENZA_KERNEL(conv1d_backward_bias, kGpu, dt)(dt, s, gd.raw_data(), dbd.raw_data());
  check(close(dbd, db, eps), "conv1d_backward_bias " + what);
}

void check_conv1d() {
  for (DType dt : {DType::f32, DType::f64}) {
    for (int64_t dilation : {1, 2, 7})
      for (int64_t K : {2, 3})
        for (int64_t T : {13, 5}) {  // 5: some taps of dilation 7 read nothing
          const int64_t span = dilation * (K - 1);
          const bool bias = (dilation + K + T) % 2 == 0;
          check_conv1d_case(dt, {2, 5, T, 7, K, dilation, span, 0, bias});                  // causal
          check_conv1d_case(dt, {3, 11, T, 5, K, dilation, span / 2, span - span / 2, !bias});  // To = T
          check_conv1d_case(dt, {1, 7, T, 13, K, dilation, span / 2 + 1, span / 2 + 1, bias});  // wider than the span
          check_conv1d_case(dt, {2, 5, T, 7, K, dilation, 0, 0, bias});                     // no padding
        }
    check_conv1d_case(dt, {3, 13, 11, 5, 1, 1, 0, 0, true});  // K = 1: w is already the tap
    check_conv1d_case(dt, {1, 1, 1, 1, 1, 1, 0, 0, false});
  }
}

// One N-d convolution (as 3-D), every kernel on the device against the CPU's.
void check_conv_nd_case(DType dt, const kernels::ConvNdShape& s, bool bias, const std::string& name) {
  const Shape xs{s.B, s.Cin, s.in[0], s.in[1], s.in[2]}, ys{s.B, s.Cout, s.out[0], s.out[1], s.out[2]},
      ws{s.Cout, s.Cin, s.k[0], s.k[1], s.k[2]};
  Tensor x = values(xs, dt, 55), w = values(ws, dt, 56), b = values({s.Cout}, dt, 57), g = values(ys, dt, 58);
  Tensor xd = x.to(kGpu), wd = w.to(kGpu), bd = b.to(kGpu), gd = g.to(kGpu);
  const std::string what = std::string(dtype_name(dt)) + " " + name + (bias ? ", bias" : "");
  const double eps = eps_for(dt);
  Tensor y = Tensor::empty(ys, dt), yd = poisoned(ys, dt);
  CADENZA_KERNEL(conv_nd_forward, Device{}, dt)(dt, s, x.raw_data(), w.raw_data(), bias ? b.raw_data() : nullptr,
                                                y.raw_data());
  CADENZA_KERNEL(conv_nd_forward, kGpu, dt)(dt, s, xd.raw_data(), wd.raw_data(), bias ? bd.raw_data() : nullptr,
                                            yd.raw_data());
  check(close(yd, y, eps), "conv_nd_forward " + what);
  Tensor dx = Tensor::empty(xs, dt), dxd = poisoned(xs, dt);
  CADENZA_KERNEL(conv_nd_backward_input, Device{}, dt)(dt, s, g.raw_data(), w.raw_data(), dx.raw_data());
  CADENZA_KERNEL(conv_nd_backward_input, kGpu, dt)(dt, s, gd.raw_data(), wd.raw_data(), dxd.raw_data());
  check(close(dxd, dx, eps), "conv_nd_backward_input " + what);
  Tensor dw = Tensor::empty(ws, dt), dwd = poisoned(ws, dt);
  CADENZA_KERNEL(conv_nd_backward_weight, Device{}, dt)(dt, s, g.raw_data(), x.raw_data(), dw.raw_data());
  CADENZA_KERNEL(conv_nd_backward_weight, kGpu, dt)(dt, s, gd.raw_data(), xd.raw_data(), dwd.raw_data());
  check(close(dwd, dw, eps * 4), "conv_nd_backward_weight " + what);
  Tensor db = Tensor::empty({s.Cout}, dt), dbd = poisoned({s.Cout}, dt);
  CADENZA_KERNEL(conv_nd_backward_bias, Device{}, dt)(dt, s, g.raw_data(), db.raw_data());
  CADENZA_KERNEL(conv_nd_backward_bias, kGpu, dt)(dt, s, gd.raw_data(), dbd.raw_data());
  check(close(dbd, db, eps), "conv_nd_backward_bias " + what);
}

// {B, Cin, Cout, in[3], out[3], k[3], stride[3], pad[3], dilation[3]}; out
// follows from the rest as PyTorch's formula gives it.
void check_conv_nd() {
  auto shape = [](int64_t B, int64_t Cin, int64_t Cout, std::array<int64_t, 3> in, std::array<int64_t, 3> k,
                  std::array<int64_t, 3> stride, std::array<int64_t, 3> pad, std::array<int64_t, 3> dil) {
    kernels::ConvNdShape s{B, Cin, Cout, {}, {}, {}, {}, {}, {}};
    for (int d = 0; d < 3; ++d) {
      s.in[d] = in[d], s.k[d] = k[d], s.stride[d] = stride[d], s.pad[d] = pad[d], s.dilation[d] = dil[d];
      s.out[d] = (in[d] + 2 * pad[d] - dil[d] * (k[d] - 1) - 1) / stride[d] + 1;
    }
    return s;
  };
  for (DType dt : {DType::f32, DType::f64}) {
    // MusicGAN's pitch and beat convolutions: kernel = stride.
    check_conv_nd_case(dt, shape(3, 5, 7, {2, 13, 84}, {1, 1, 12}, {1, 1, 12}, {0, 0, 0}, {1, 1, 1}), true,
                       "kernel = stride (1, 1, 12)");
    check_conv_nd_case(dt, shape(2, 7, 5, {3, 48, 7}, {1, 3, 1}, {1, 3, 1}, {0, 0, 0}, {1, 1, 1}), false,
                       "kernel = stride (1, 3, 1)");
    // A 2-D convolution (leading 1), strided, padded and dilated, odd sizes.
    check_conv_nd_case(dt, shape(2, 3, 5, {1, 11, 13}, {1, 3, 2}, {1, 2, 1}, {0, 1, 2}, {1, 2, 3}), true,
                       "2-D strided, padded, dilated");
    check_conv_nd_case(dt, shape(1, 4, 3, {5, 7, 11}, {3, 3, 3}, {2, 1, 3}, {1, 0, 2}, {1, 2, 1}), false,
                       "3-D 3x3x3");
    check_conv_nd_case(dt, shape(3, 13, 5, {2, 7, 5}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}), true,
                       "pointwise (the input is its own columns)");
    check_conv_nd_case(dt, shape(1, 1, 1, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}), false, "1 x 1");
  }
  // Columns over 64 MiB per sample: one sample per chunk, three chunks.
  check_conv_nd_case(DType::f32, shape(3, 16, 4, {34, 34, 34}, {3, 3, 3}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}), true,
                     "chunked columns");
}

std::string dims(const Shape& s) {
  std::string r;
  for (int64_t v : s) r += (r.empty() ? "" : ", ") + std::to_string(v);
  return "[" + r + "]";
}

// x: [B, C, L]; every other case without weight and bias, and with only dx
// (or only dw and db) wanted, so the null pointers are covered.
void check_batch_norm_case(DType dt, int64_t B, int64_t C, int64_t L, bool affine, int wanted) {
  Tensor x = values({B, C, L}, dt, 61), g = values({B, C, L}, dt, 62);
  Tensor w = values({C}, dt, 63), bias = values({C}, dt, 64);
  Tensor xd = x.to(kGpu), gd = g.to(kGpu), wd = w.to(kGpu), biasd = bias.to(kGpu);
  const double eps_bn = 1e-5, eps = eps_for(dt);
  const std::string what =
      std::string(dtype_name(dt)) + " " + dims({B, C, L}) + (affine ? ", affine" : "");

  Tensor mean = Tensor::empty({C}, dt), var = Tensor::empty({C}, dt);
  Tensor meand = poisoned({C}, dt), vard = poisoned({C}, dt);
  CADENZA_KERNEL(batch_norm_stats, Device{}, dt)
  (dt, B, C, L, x.raw_data(), mean.raw_data(), var.raw_data());
  CADENZA_KERNEL(batch_norm_stats, kGpu, dt)
  (dt, B, C, L, xd.raw_data(), meand.raw_data(), vard.raw_data());
  check(close(meand, mean, eps) && close(vard, var, eps), "batch_norm_stats " + what);

  // Forward and backward on the CPU's statistics, so each kernel is compared alone.
  Tensor md = mean.to(kGpu), vd = var.to(kGpu);
  const void* wp = affine ? w.raw_data() : nullptr;
  const void* wdp = affine ? wd.raw_data() : nullptr;
  Tensor y = Tensor::empty({B, C, L}, dt), yd = poisoned({B, C, L}, dt);
  CADENZA_KERNEL(batch_norm_forward, Device{}, dt)
  (dt, B, C, L, x.raw_data(), mean.raw_data(), var.raw_data(), eps_bn, wp,
   affine ? bias.raw_data() : nullptr, y.raw_data());
  CADENZA_KERNEL(batch_norm_forward, kGpu, dt)
  (dt, B, C, L, xd.raw_data(), md.raw_data(), vd.raw_data(), eps_bn, wdp,
   affine ? biasd.raw_data() : nullptr, yd.raw_data());
  check(close(yd, y, eps), "batch_norm_forward " + what);

  const bool want_dx = wanted != 1, want_dwb = wanted != 2;
  Tensor dx = Tensor::empty({B, C, L}, dt), dw = Tensor::empty({C}, dt),
         db = Tensor::empty({C}, dt);
  Tensor dxd = poisoned({B, C, L}, dt), dwd = poisoned({C}, dt), dbd = poisoned({C}, dt);
  CADENZA_KERNEL(batch_norm_backward, Device{}, dt)
  (dt, B, C, L, x.raw_data(), g.raw_data(), mean.raw_data(), var.raw_data(), eps_bn, wp,
   want_dx ? dx.raw_data() : nullptr, want_dwb ? dw.raw_data() : nullptr,
   want_dwb ? db.raw_data() : nullptr);
  CADENZA_KERNEL(batch_norm_backward, kGpu, dt)
  (dt, B, C, L, xd.raw_data(), gd.raw_data(), md.raw_data(), vd.raw_data(), eps_bn, wdp,
   want_dx ? dxd.raw_data() : nullptr, want_dwb ? dwd.raw_data() : nullptr,
   want_dwb ? dbd.raw_data() : nullptr);
  if (want_dx) check(close(dxd, dx, eps), "batch_norm_backward dx " + what);
  if (want_dwb)
    check(close(dwd, dw, eps) && close(dbd, db, eps), "batch_norm_backward dw, db " + what);
}

void check_batch_norm() {
  int k = 0;
  for (DType dt : {DType::f32, DType::f64})
    for (int64_t B : {1, 3, 5})
      for (int64_t C : {5, 11})
        for (int64_t L : {1, 13}) {
          check_batch_norm_case(dt, B, C, L, k % 2 == 0, k % 3);
          ++k;
        }
  check_batch_norm_case(DType::f32, 7, 3, 700, true, 0);  // several warps' sums per channel
}

// Weights scaled down so the gates do not all saturate.
Tensor weights(const Shape& shape, DType dt, uint64_t seed) {
  return mul(values(shape, dt, seed), Tensor::scalar(0.4, dt));
}

// One LSTM layer's recurrence, forward (with and without the input given)
// and backward, the backward from the CPU's forward results.
void check_lstm_case(DType dt, int64_t T, int64_t B, int64_t H) {
  const int64_t G = 4 * H, I = 3;
  const std::string what = std::string(dtype_name(dt)) + " T " + std::to_string(T) + ", B " +
                           std::to_string(B) + ", H " + std::to_string(H);
  const double eps = eps_for(dt);
  Tensor pre = values({T, B, G}, dt, 71), whh = weights({G, H}, dt, 72),
         h0 = values({B, H}, dt, 73), c0 = values({B, H}, dt, 74), x = values({T, B, I}, dt, 75),
         wih = weights({G, I}, dt, 76);
  Tensor whhd = whh.to(kGpu), h0d = h0.to(kGpu), c0d = c0.to(kGpu), xd = x.to(kGpu),
         wihd = wih.to(kGpu);
  for (bool with_x : {false, true}) {
    Tensor act = pre.clone(), actd = pre.to(kGpu);
    Tensor h = Tensor::empty({T, B, H}, dt), cells = Tensor::empty({T, B, H}, dt);
    Tensor hd = poisoned({T, B, H}, dt), cellsd = poisoned({T, B, H}, dt);
    CADENZA_KERNEL(lstm_recurrent_forward, Device{}, dt)
    (dt, T, B, H, act.raw_data(), whh.raw_data(), h0.raw_data(), c0.raw_data(), h.raw_data(),
     cells.raw_data(), with_x ? x.raw_data() : nullptr, with_x ? wih.raw_data() : nullptr,
     with_x ? I : 0);
    CADENZA_KERNEL(lstm_recurrent_forward, kGpu, dt)
    (dt, T, B, H, actd.raw_data(), whhd.raw_data(), h0d.raw_data(), c0d.raw_data(), hd.raw_data(),
     cellsd.raw_data(), with_x ? xd.raw_data() : nullptr, with_x ? wihd.raw_data() : nullptr,
     with_x ? I : 0);
    const std::string w = what + (with_x ? ", input given" : "");
    check(close(actd, act, eps) && close(hd, h, eps) && close(cellsd, cells, eps),
          "lstm_recurrent_forward " + w + ": activations, h, cells");
    if (with_x) continue;
    Tensor dh_out = values({T, B, H}, dt, 77), dc = values({B, H}, dt, 78);
    Tensor dcd = dc.to(kGpu), dh0 = Tensor::empty({B, H}, dt), dh0d = poisoned({B, H}, dt);
    Tensor dg = Tensor::empty({T, B, G}, dt), dgd = poisoned({T, B, G}, dt);
    Tensor actc = act.to(kGpu), cellsc = cells.to(kGpu), dh_outd = dh_out.to(kGpu);
    CADENZA_KERNEL(lstm_recurrent_backward, Device{}, dt)
    (dt, T, B, H, act.raw_data(), whh.raw_data(), c0.raw_data(), cells.raw_data(),
     dh_out.raw_data(), dc.raw_data(), dh0.raw_data(), dg.raw_data());
    CADENZA_KERNEL(lstm_recurrent_backward, kGpu, dt)
    (dt, T, B, H, actc.raw_data(), whhd.raw_data(), c0d.raw_data(), cellsc.raw_data(),
     dh_outd.raw_data(), dcd.raw_data(), dh0d.raw_data(), dgd.raw_data());
    check(close(dgd, dg, eps) && close(dcd, dc, eps) && close(dh0d, dh0, eps),
          "lstm_recurrent_backward " + what + ": dgates, dc0, dh0");
  }
}

void check_gru_case(DType dt, int64_t T, int64_t B, int64_t H, bool bias) {
  const int64_t G = 3 * H;
  const std::string what = std::string(dtype_name(dt)) + " T " + std::to_string(T) + ", B " +
                           std::to_string(B) + ", H " + std::to_string(H) + (bias ? ", b_hh" : "");
  const double eps = eps_for(dt);
  Tensor gx = values({T, B, G}, dt, 81), whh = weights({G, H}, dt, 82), bhh = values({G}, dt, 83),
         h0 = values({B, H}, dt, 84);
  Tensor gxd = gx.to(kGpu), whhd = whh.to(kGpu), bhhd = bhh.to(kGpu), h0d = h0.to(kGpu);
  Tensor h = Tensor::empty({T, B, H}, dt), save = Tensor::empty({T, B, 4 * H}, dt);
  Tensor hd = poisoned({T, B, H}, dt), saved = poisoned({T, B, 4 * H}, dt);
  CADENZA_KERNEL(gru_recurrent_forward, Device{}, dt)
  (dt, T, B, H, gx.raw_data(), whh.raw_data(), bias ? bhh.raw_data() : nullptr, h0.raw_data(),
   h.raw_data(), save.raw_data());
  CADENZA_KERNEL(gru_recurrent_forward, kGpu, dt)
  (dt, T, B, H, gxd.raw_data(), whhd.raw_data(), bias ? bhhd.raw_data() : nullptr, h0d.raw_data(),
   hd.raw_data(), saved.raw_data());
  check(close(hd, h, eps) && close(saved, save, eps),
        "gru_recurrent_forward " + what + ": h, save");
  Tensor dh_out = values({T, B, H}, dt, 85);
  Tensor hc = h.to(kGpu), savec = save.to(kGpu), dh_outd = dh_out.to(kGpu);
  Tensor dgx = Tensor::empty({T, B, G}, dt), dgh = Tensor::empty({T, B, G}, dt),
         dh0 = Tensor::empty({B, H}, dt);
  Tensor dgxd = poisoned({T, B, G}, dt), dghd = poisoned({T, B, G}, dt),
         dh0d = poisoned({B, H}, dt);
  CADENZA_KERNEL(gru_recurrent_backward, Device{}, dt)
  (dt, T, B, H, whh.raw_data(), h0.raw_data(), h.raw_data(), save.raw_data(), dh_out.raw_data(),
   dgx.raw_data(), dgh.raw_data(), dh0.raw_data());
  CADENZA_KERNEL(gru_recurrent_backward, kGpu, dt)
  (dt, T, B, H, whhd.raw_data(), h0d.raw_data(), hc.raw_data(), savec.raw_data(),
   dh_outd.raw_data(), dgxd.raw_data(), dghd.raw_data(), dh0d.raw_data());
  check(close(dgxd, dgx, eps) && close(dghd, dgh, eps) && close(dh0d, dh0, eps),
        "gru_recurrent_backward " + what + ": dgx, dgh, dh0");
}

void check_recurrences() {
  int k = 0;
  for (DType dt : {DType::f32, DType::f64})
    for (int64_t T : {1, 6})
      for (int64_t B : {1, 3, 5})
        for (int64_t H : {7, 13}) {
          check_lstm_case(dt, T, B, H);
          check_gru_case(dt, T, B, H, ++k % 2 == 0);
        }
}

// The front ends on device tensors: outputs and gradients against the CPU's.
std::vector<Tensor> leaves_on(const std::vector<Tensor>& xs, Device dev) {
  std::vector<Tensor> r;
  for (const Tensor& x : xs) {
    Tensor t = x.to(dev).detach();
    t.requires_grad_(true);
    r.push_back(t);
  }
  return r;
}

std::vector<Tensor> front_ends(const std::vector<Tensor>& cpu_inputs, Device dev) {
  std::vector<Tensor> x = leaves_on(cpu_inputs, dev);
  const DType dt = cpu_inputs[0].dtype();
  Tensor rm = Tensor::zeros({5}, dt, dev), rv = Tensor::ones({5}, dt, dev);
  Tensor bn = batch_norm(x[0], rm, rv, x[1], x[2], true);
  Tensor l_long =
      lstm_layer(x[3], x[4], x[5], x[6], x[7], x[8], x[9]);  // T * B = 21: one input GEMM
  Tensor l_short =
      lstm_layer(narrow(x[3], 0, 0, 2), Tensor(), Tensor(), x[6], x[7], x[8], Tensor());  // 6 rows
  Tensor g = gru_layer(x[3], x[4], x[10], x[11], x[12], x[13]);
  Tensor lg = lstm_layer_gates(x[14], Tensor(), Tensor(), x[7]);
  Tensor gg = gru_layer_gates(x[15], x[4], x[11], x[13]);
  std::vector<Tensor> outs = {bn, l_long, l_short, g, lg, gg, rm, rv};
  Tensor loss = sum(mul(bn, bn));
  for (size_t i = 1; i < 6; ++i) loss = add(loss, sum(mul(outs[i], outs[i])));
  loss.backward();
  std::vector<Tensor> r;
  for (const Tensor& o : outs) {
    check(o.device() == dev, "front end output on " + dev.str());
    r.push_back(o.detach().to(Device{}));
  }
  for (const Tensor& t : x) r.push_back(t.grad().to(Device{}));
  return r;
}

void check_front_ends() {
  for (DType dt : {DType::f32, DType::f64}) {
    const int64_t T = 7, B = 3, I = 4, H = 5;
    std::vector<Tensor> in = {
        values({3, 5, 13}, dt, 91),    values({5}, dt, 92),          values({5}, dt, 93),
        values({T, B, I}, dt, 94),     values({B, H}, dt, 95),       values({B, H}, dt, 96),
        weights({4 * H, I}, dt, 97),   weights({4 * H, H}, dt, 98),  values({4 * H}, dt, 99),
        values({4 * H}, dt, 100),      weights({3 * H, I}, dt, 101), weights({3 * H, H}, dt, 102),
        values({3 * H}, dt, 103),      values({3 * H}, dt, 104),     values({2, 1, 4 * H}, dt, 105),
        values({4, B, 3 * H}, dt, 106)};
    std::vector<Tensor> want = front_ends(in, Device{}), got = front_ends(in, kGpu);
    bool ok = want.size() == got.size();
    for (size_t i = 0; ok && i < want.size(); ++i) ok = close(got[i], want[i], eps_for(dt) * 10);
    check(ok, std::string("batch_norm, lstm_layer, gru_layer and the gates forms on cuda:0, ") +
                  dtype_name(dt) + ": outputs, running stats and every gradient equal the CPU's");
  }
  bool named = false;
  try {
    Tensor x = values({2, 1, 3}, DType::f32, 1).to(kGpu);
    lstm_layer(x, Tensor(), Tensor(), values({8, 3}, DType::f32, 2).to(kGpu),
               values({8, 2}, DType::f32, 3), Tensor(), Tensor());
  } catch (const Error& e) {
    named = std::strstr(e.what(), "weight_hh") != nullptr;
    std::printf("  %s\n", e.what());
  }
  check(named, "lstm_layer refuses a weight on another device, by name");
}

}  // namespace

int main() {
  if (backend::available_backends().size() < 2) {
    std::puts("skipped: no CUDA backend in this build or no CUDA device on this machine");
    return 77;
  }
  const Device gpu{Device::cuda, 0};
  try {
    Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor y = x.transpose(0, 1).to(gpu);
    check(y.device() == gpu, "to(cuda:0) puts the tensor on the device");
    check(y.to(Device{}).to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6}, "a small copy there and back");
    const int64_t n = int64_t{5} << 20;  // 20 MB: through the pinned staging buffer, in chunks
    std::vector<float> big(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) big[static_cast<size_t>(i)] = static_cast<float>(i % 9973) - 17.f;
    Tensor h = Tensor::from_vector<float>(big, {n});
    check(h.to(gpu).to(Device{}).to_vector<float>() == big, "a 20 MB copy there and back");
    Tensor z = Tensor::zeros({n}, DType::f64, gpu);
    std::vector<double> zs = z.to(Device{}).to_vector<double>();
    bool all_zero = true;
    for (double v : zs) all_zero = all_zero && v == 0;
    check(all_zero, "zeros on the device");
    Tensor sum2 = add(y, mul(y, y));  // the elementwise family runs on the device
    check(sum2.device() == gpu, "add and mul stay on the device");
    check(sum2.to(Device{}).to_vector<float>() == std::vector<float>{2, 20, 6, 30, 12, 42}, "add(y, y * y) on the device");
    check(y.to(DType::f64).contiguous().to(Device{}).to_vector<double>() == std::vector<double>{1, 4, 2, 5, 3, 6},
          "copy_cast to f64 of a strided tensor on the device");
    Tensor prod = matmul(y, y.transpose(0, 1));  // cuBLAS, row-major through the transposition
    check(prod.to(Device{}).to_vector<float>() ==
              matmul(x.transpose(0, 1), x).to_vector<float>(),
          "matmul on the device equals the CPU's");
    check_gated_activation();
    check_index();
    check_conv1d();
    check_conv_nd();
    check_batch_norm();
    check_recurrences();
    check_front_ends();
    bool named = false;
    try {
      CADENZA_KERNEL(gemm, gpu, DType::i64);  // matmul's front end refuses integers first
    } catch (const Error& e) {
      named = std::strstr(e.what(), "gemm has no kernel on cuda:0 for i64") != nullptr;
      std::printf("  %s\n", e.what());
    }
    check(named, "an op without a CUDA kernel for a dtype names the op, the device and the dtype");
    bool host = false;
    try {
      y.data<float>();
    } catch (const Error& e) {
      host = std::strstr(e.what(), "is on cuda:0") != nullptr;
    }
    check(host, "host access to a device tensor is refused");
  } catch (const std::exception& e) {
    std::printf("FAILED: %s\n", e.what());
    return 1;
  }
  return failures ? 1 : 0;
}
