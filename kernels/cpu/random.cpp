#include "kernels/cpu/random.h"

#include <cmath>

#include "kernels/update_math.h"

namespace cadenza::kernels {
namespace {

// Four values a Philox block: out[4b + k] = lane(r, k) of block b.
template <class T, class Lane>
void by_lanes(uint64_t seed, uint64_t counter, int64_t n, T* out, const Lane& lane) {
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    uint32_t r[4];
    kmath::philox_block(seed, counter + b, r);
    for (int k = 0; k < 4 && b * 4 + k < n; ++k) out[b * 4 + k] = lane(r, k);
  }
}

template <class T>
void uniform_typed(uint64_t seed, uint64_t counter, int64_t n, T* out, double lo, double hi) {
  by_lanes(seed, counter, n, out, [=](const uint32_t* r, int k) { return kmath::philox_uniform_lane<T>(r, k, lo, hi); });
}

template <class T>
void bernoulli_typed(uint64_t seed, uint64_t counter, int64_t n, T* out, double p, double value) {
  by_lanes(seed, counter, n, out, [=](const uint32_t* r, int k) { return kmath::philox_bernoulli_lane<T>(r, k, p, value); });
}

template <class T>
void normal_typed(uint64_t seed, uint64_t counter, int64_t n, T* out, double mean, double std) {
  const int64_t blocks = (n + 1) / 2;
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    uint32_t r[4];
    kmath::philox_block(seed, counter + b, r);
    T x, y;
    kmath::philox_normal_pair(r, mean, std, &x, &y);
    out[b * 2] = x;
    if (b * 2 + 1 < n) out[b * 2 + 1] = y;
  }
}

}  // namespace

void philox_uniform(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double lo,
                    double hi) {
  if (dt == DType::f32)
    uniform_typed(seed, counter, n, static_cast<float*>(out), lo, hi);
  else
    uniform_typed(seed, counter, n, static_cast<double*>(out), lo, hi);
}

void philox_bernoulli(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double p,
                      double value) {
  if (dt == DType::f32)
    bernoulli_typed(seed, counter, n, static_cast<float*>(out), p, value);
  else
    bernoulli_typed(seed, counter, n, static_cast<double*>(out), p, value);
}

void philox_normal(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double mean,
                   double std) {
  if (dt == DType::f32)
    normal_typed(seed, counter, n, static_cast<float*>(out), mean, std);
  else
    normal_typed(seed, counter, n, static_cast<double*>(out), mean, std);
}

}  // namespace cadenza::kernels
