#pragma once
// Per-element math of the random draws and the optimizer updates (and the
// block map of the CUDA optimizer kernels' tensor lists), shared by
// kernels/cpu/{random,optim}.cpp and kernels/cuda/{random,optim}.cu, so the
// CPU tests cover what a GPU computes: the same seed and offset give the
// same draws (uniforms bit for bit; normals up to the device's log/sin/cos),
// and an update the same parameters.
#include <cmath>
#include <cstdint>

#include "kernels/cpu/optim.h"
#include "kernels/math.h"

namespace cadenza::kmath {

// The Philox block `ctr` of `seed`.
CADENZA_HD void philox_block(uint64_t seed, uint64_t ctr, uint32_t out[4]) {
  const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  const uint32_t c[4] = {static_cast<uint32_t>(ctr), static_cast<uint32_t>(ctr >> 32), 0, 0};
  philox4x32_10(key, c, out);
}

// Lane k of a block as a uniform in [lo, hi): f32 from one word, f64 from two.
template <class T>
CADENZA_HD T philox_uniform_lane(const uint32_t r[4], int k, double lo, double hi) {
  double u;
  if constexpr (sizeof(T) == 4)
    u = u32_to_unit_float(r[k]);
  else
    u = u64_to_unit_double(r[k], r[(k + 1) & 3]);
  return static_cast<T>(lo + (hi - lo) * (1.0 - u));  // (0, 1] -> [0, 1)
}

// Lane k as a Bernoulli draw: `value` where the lane's uniform in [0, 1)
// (philox_uniform_lane's, in T) is below p, else 0 (dropout's scaled mask).
template <class T>
CADENZA_HD T philox_bernoulli_lane(const uint32_t r[4], int k, double p, double value) {
  return philox_uniform_lane<T>(r, k, 0.0, 1.0) < static_cast<T>(p) ? static_cast<T>(value) : T(0);
}

// The two normals of a block (Box-Muller).
template <class T>
CADENZA_HD void philox_normal_pair(const uint32_t r[4], double mean, double std, T* a, T* b) {
  double u1 = u64_to_unit_double(r[0], r[1]);
  double u2 = u64_to_unit_double(r[2], r[3]);
  double rad = std::sqrt(-2.0 * std::log(u1));
  double th = 2.0 * 3.14159265358979323846 * u2;
  *a = static_cast<T>(mean + std * rad * std::cos(th));
  *b = static_cast<T>(mean + std * rad * std::sin(th));
}

// Adam's constants for one step, in the parameter's type.
template <class T>
struct AdamConsts {
  T b1, b2, lr, wd, eps, bc2_sqrt, step_size;
  bool decoupled;
};

// One element of torch.optim.Adam's single-tensor update, in its order.
template <class T>
CADENZA_HD void adam_update(T& p, T g, T& m, T& v, const AdamConsts<T>& c) {
  if (c.decoupled)
    p *= T(1) - c.lr * c.wd;
  else if (c.wd != T(0))
    g += c.wd * p;
  m += (g - m) * (T(1) - c.b1);
  v = v * c.b2 + g * g * (T(1) - c.b2);
  T denom = std::sqrt(v) / c.bc2_sqrt + c.eps;
  p -= c.step_size * m / denom;
}

// The constants of a parameter's step `step`, computed on the host as the
// CPU kernel always did.
template <class T>
inline AdamConsts<T> adam_consts(const kernels::AdamParams& a, int64_t step) {
  AdamConsts<T> c;
  c.b1 = T(a.beta1);
  c.b2 = T(a.beta2);
  c.lr = T(a.lr);
  c.wd = T(a.weight_decay);
  c.eps = T(a.eps);
  const T bc1 = T(1 - std::pow(a.beta1, static_cast<double>(step)));
  c.bc2_sqrt = T(std::sqrt(1 - std::pow(a.beta2, static_cast<double>(step))));
  c.step_size = c.lr / bc1;
  c.decoupled = a.decoupled;
  return c;
}

template <class T>
struct SgdConsts {
  T lr, mom, damp, wd;
  bool nesterov, first;
};

template <class T>
inline SgdConsts<T> sgd_consts(const kernels::SgdParams& s, bool first) {
  return {T(s.lr), T(s.momentum), T(s.dampening), T(s.weight_decay), s.nesterov, first};
}

template <class T>
CADENZA_HD void sgd_update(T& p, T g, T& buf, const SgdConsts<T>& c) {
  if (c.wd != T(0)) g += c.wd * p;
  if (c.mom != T(0)) {
    buf = c.first ? g : buf * c.mom + (T(1) - c.damp) * g;
    g = c.nesterov ? g + c.mom * buf : buf;
  }
  p -= c.lr * g;
}

// A list launch (the CUDA optimizer kernels) gives tensor e of its `count`
// the blocks first_block[e] .. first_block[e + 1] - 1, `chunk` elements a
// block. list_entry is the tensor of block b: the last e whose first block
// is <= b (first_block[0] is 0 and rises, strictly, as no tensor of a list
// is empty); list_span that block's elements [begin, end) of the tensor.
CADENZA_HD int list_entry(const int64_t* first_block, int count, int64_t b) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (first_block[mid] <= b)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

CADENZA_HD void list_span(const int64_t* first_block, const int64_t* n, int e, int64_t b, int64_t chunk,
                          int64_t* begin, int64_t* end) {
  *begin = (b - first_block[e]) * chunk;
  *end = *begin + chunk < n[e] ? *begin + chunk : n[e];
}

}  // namespace cadenza::kmath
