#pragma once
// Scalar math shared by the CPU and CUDA kernels, so the CPU tests cover the
// formulas the GPU runs.
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define CADENZA_HD __host__ __device__ __forceinline__
#else
#define CADENZA_HD inline
#endif

namespace cadenza::kmath {

template <class T> CADENZA_HD T sigmoid(T x) {
  // Split by sign so exp never overflows.
  if (x >= T(0)) {
    T z = std::exp(-x);
    return T(1) / (T(1) + z);
  }
  T z = std::exp(x);
  return z / (T(1) + z);
}

// exp(x) for f32 in plain arithmetic, so loops over it vectorise: x = n ln 2
// + r with |r| <= ln(2)/2, a degree-6 polynomial for exp(r) (Cephes' expf
// coefficients), 2^n through the exponent bits. Within 2 ulp of expf on
// [-87, 88]; clamped outside (0 below, 2^127-ish above). exp_reduced and
// exp_poly are written for a float or a GCC vector of floats alike, so the
// SIMD kernels (gated_activation.cpp) evaluate the same formula lane by lane.
constexpr float kExpLo = -87.0f, kExpHi = 88.0f;
// x = n ln 2 + r for a rounded n (as a float): returns r.
template <class F> CADENZA_HD F exp_reduced(F x, F n) { return x - n * 0.693359375f + n * 2.12194440e-4f; }
// exp(r) for |r| <= ln(2)/2.
template <class F> CADENZA_HD F exp_poly(F r) {
  F p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * r * r + r + 1.0f;
}
CADENZA_HD float fast_expf(float x) {
  x = x < kExpLo ? kExpLo : (x > kExpHi ? kExpHi : x);
  float n = static_cast<float>(static_cast<int>(x * 1.44269504088896341f + (x >= 0 ? 0.5f : -0.5f)));
  float p = exp_poly(exp_reduced(x, n));
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  static_assert(sizeof(scale) == sizeof(bits), "f32 is 32 bits");
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
// bf16, the top half of an f32: rounded to nearest, ties to even (a NaN
// stays a quiet NaN instead of rounding into an infinity), and back.
CADENZA_HD uint16_t bf16_bits(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
CADENZA_HD float bf16_value(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
}
CADENZA_HD float fast_sigmoidf(float x) { return 1.0f / (1.0f + fast_expf(-x)); }
// tanh(x) = 2 sigmoid(2x) - 1: absolute error ~1e-7, which is all f32 training needs.
CADENZA_HD float fast_tanhf(float x) { return 2.0f / (1.0f + fast_expf(-2.0f * x)) - 1.0f; }

// WaveNet's gate tanh(a) * sigmoid(s), and its gradient given the output's g.
template <class T> CADENZA_HD T gate(T a, T s) { return std::tanh(a) * sigmoid(s); }
template <class T> CADENZA_HD void gate_backward(T a, T s, T g, T* da, T* ds) {
  T ta = std::tanh(a), ss = sigmoid(s);
  *da = g * ss * (T(1) - ta * ta);
  *ds = g * ta * ss * (T(1) - ss);
}
// The f32 kernels' gate, on fast_expf so a loop over it vectorises.
CADENZA_HD float gate(float a, float s) { return fast_tanhf(a) * fast_sigmoidf(s); }
CADENZA_HD void gate_backward(float a, float s, float g, float* da, float* ds) {
  float ta = fast_tanhf(a), ss = fast_sigmoidf(s);
  *da = g * ss * (1.0f - ta * ta);
  *ds = g * ta * ss * (1.0f - ss);
}

template <class T> CADENZA_HD T softplus(T x, T beta, T threshold) {
  T bx = beta * x;
  if (bx > threshold) return x;
  return std::log1p(std::exp(bx)) / beta;
}

template <class T> CADENZA_HD T sign(T x) { return T((x > T(0)) - (x < T(0))); }

// Numerically stable BCE with logits: max(x,0) - x*t + log1p(exp(-|x|)).
template <class T> CADENZA_HD T bce_with_logits(T x, T t) {
  T m = x > T(0) ? x : T(0);
  return m - x * t + std::log1p(std::exp(-std::fabs(x)));
}

// Cross-entropy of one row of logits, fused (kernels' cross_entropy_*):
// m is the row's maximum (0 when infinite, as softmax shifts) and s the sum
// of exp(x - m) over the row, in double. The loss at the target's logit xt
// is log-softmax's formula negated, so it equals nll_loss(log_softmax(x))
// bit for bit; the gradient is g (softmax(x) - onehot) from the row's
// log-sum-exp.
//
// row_stats gives m and s for a row of C logits `step` apart (the CPU's
// softmax and cross-entropy rows, and the CUDA cross-entropy's thread per
// [N, C, d] row). An all -inf row is shifted by 0 (its result is NaN, as in
// PyTorch) instead of by -inf, which would turn finite entries into NaN.
template <class T> CADENZA_HD void row_stats(const T* in, int64_t C, int64_t step, T& m, double& s) {
  m = -static_cast<T>(INFINITY);
  for (int64_t c = 0; c < C; ++c) m = in[c * step] > m ? in[c * step] : m;
  if (std::isinf(m)) m = m > 0 ? m : T(0);
  s = 0;
  for (int64_t c = 0; c < C; ++c) s += std::exp(static_cast<double>(in[c * step] - m));
}
template <class T> CADENZA_HD T ce_loss(T xt, T m, double s) { return static_cast<T>(std::log(s)) - (xt - m); }
template <class T> CADENZA_HD T ce_lse(T m, double s) { return m + static_cast<T>(std::log(s)); }
template <class T> CADENZA_HD T ce_grad(T x, T lse, bool is_target, T g) {
  return g * (std::exp(x - lse) - (is_target ? T(1) : T(0)));
}
// The f32 kernels' gradient, on fast_expf so the row loop vectorises.
CADENZA_HD float ce_grad(float x, float lse, bool is_target, float g) {
  return g * (fast_expf(x - lse) - (is_target ? 1.f : 0.f));
}

// Philox 4x32-10 (Salmon et al., SC'11): counter-based, so element i of a
// random stream is a pure function of (key, counter), independent of threads.
struct Philox4x32 {
  uint32_t c[4];
};
CADENZA_HD void philox4x32_10(const uint32_t key_in[2], const uint32_t ctr_in[4], uint32_t out[4]) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  uint32_t k0 = key_in[0], k1 = key_in[1];
  uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = static_cast<uint64_t>(M0) * c0;
    uint64_t p1 = static_cast<uint64_t>(M1) * c2;
    uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += W0;
    k1 += W1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

// Uniform in (0, 1]: never 0, so log() of it is finite.
CADENZA_HD float u32_to_unit_float(uint32_t x) { return (static_cast<float>(x >> 8) + 1.0f) * (1.0f / 16777216.0f); }
CADENZA_HD double u64_to_unit_double(uint32_t hi, uint32_t lo) {
  uint64_t v = (static_cast<uint64_t>(hi) << 21) ^ lo;
  v &= ((uint64_t(1) << 53) - 1);
  return (static_cast<double>(v) + 1.0) * (1.0 / 9007199254740992.0);
}

}  // namespace cadenza::kmath

namespace cadenza::kmath {

// One LSTM cell, element j of hidden size H, batch row b. `gates` holds the
// pre-activations [i, f, g, o] (PyTorch order) at j, H+j, 2H+j, 3H+j and is
// overwritten with the activations, which backward needs.
template <class T>
CADENZA_HD void lstm_cell_forward(T* gates, int64_t H, int64_t j, T c_prev, T& c, T& h) {
  T i = sigmoid(gates[j]), f = sigmoid(gates[H + j]);
  T g = std::tanh(gates[2 * H + j]), o = sigmoid(gates[3 * H + j]);
  gates[j] = i;
  gates[H + j] = f;
  gates[2 * H + j] = g;
  gates[3 * H + j] = o;
  c = f * c_prev + i * g;
  h = o * std::tanh(c);
}

// Backward of one LSTM cell element: given dh (total, into h_t) and dc (from
// step t+1), writes the pre-activation gradients into dgates and returns
// dc for step t-1 through dc_prev.
template <class T>
CADENZA_HD void lstm_cell_backward(const T* act, int64_t H, int64_t j, T c_prev, T c, T dh,
                                   T dc_next, T* dgates, T& dc_prev) {
  T i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j];
  T tc = std::tanh(c);
  T dc = dc_next + dh * o * (T(1) - tc * tc);
  dgates[j] = dc * g * i * (T(1) - i);
  dgates[H + j] = dc * c_prev * f * (T(1) - f);
  dgates[2 * H + j] = dc * i * (T(1) - g * g);
  dgates[3 * H + j] = dh * tc * o * (T(1) - o);
  dc_prev = dc * f;
}

// One GRU cell element (PyTorch's formulation): gx = W_ih x + b_ih and
// gh = W_hh h + b_hh, each [r, z, n]; n = tanh(gx_n + r * gh_n),
// h' = (1 - z) n + z h. Saves r, z, n and gh_n for backward in `save`.
template <class T>
CADENZA_HD void gru_cell_forward(const T* gx, const T* gh, int64_t H, int64_t j, T h_prev, T* save,
                                 T& h) {
  T r = sigmoid(gx[j] + gh[j]);
  T z = sigmoid(gx[H + j] + gh[H + j]);
  T n = std::tanh(gx[2 * H + j] + r * gh[2 * H + j]);
  save[j] = r;
  save[H + j] = z;
  save[2 * H + j] = n;
  save[3 * H + j] = gh[2 * H + j];
  h = (T(1) - z) * n + z * h_prev;
}

// GRU backward for one element: dgx and dgh get the pre-activation gradients
// of the input and hidden projections; dh_prev_direct is the part of dh_prev
// that does not go through W_hh.
template <class T>
CADENZA_HD void gru_cell_backward(const T* save, int64_t H, int64_t j, T h_prev, T dh, T* dgx,
                                  T* dgh, T& dh_prev_direct) {
  T r = save[j], z = save[H + j], n = save[2 * H + j], ghn = save[3 * H + j];
  T dn = dh * (T(1) - z);
  T dz = dh * (h_prev - n);
  dh_prev_direct = dh * z;
  T dn_pre = dn * (T(1) - n * n);
  T dr = dn_pre * ghn;
  T dr_pre = dr * r * (T(1) - r);
  T dz_pre = dz * z * (T(1) - z);
  dgx[j] = dr_pre;
  dgh[j] = dr_pre;
  dgx[H + j] = dz_pre;
  dgh[H + j] = dz_pre;
  dgx[2 * H + j] = dn_pre;
  dgh[2 * H + j] = dn_pre * r;
}

}  // namespace cadenza::kmath
