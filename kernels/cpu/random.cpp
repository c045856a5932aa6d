#include "kernels/cpu/random.h"

#include <cmath>

#include "kernels/math.h"

namespace cadenza::kernels {
namespace {

inline void block(uint64_t seed, uint64_t ctr, uint32_t out[4]) {
  const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  const uint32_t c[4] = {static_cast<uint32_t>(ctr), static_cast<uint32_t>(ctr >> 32), 0, 0};
  kmath::philox4x32_10(key, c, out);
}

template <class T>
void uniform_typed(uint64_t seed, uint64_t counter, int64_t n, T* out, double lo, double hi) {
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    uint32_t r[4];
    block(seed, counter + b, r);
    for (int k = 0; k < 4 && b * 4 + k < n; ++k) {
      double u;
      if constexpr (sizeof(T) == 4)
        u = kmath::u32_to_unit_float(r[k]);
      else
        u = kmath::u64_to_unit_double(r[k], r[(k + 1) & 3]);
      // (0, 1] -> [0, 1)
      out[b * 4 + k] = static_cast<T>(lo + (hi - lo) * (1.0 - u));
    }
  }
}

template <class T>
void normal_typed(uint64_t seed, uint64_t counter, int64_t n, T* out, double mean, double std) {
  const int64_t blocks = (n + 1) / 2;
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    uint32_t r[4];
    block(seed, counter + b, r);
    double u1 = kmath::u64_to_unit_double(r[0], r[1]);
    double u2 = kmath::u64_to_unit_double(r[2], r[3]);
    double rad = std::sqrt(-2.0 * std::log(u1));
    double th = 2.0 * M_PI * u2;
    out[b * 2] = static_cast<T>(mean + std * rad * std::cos(th));
    if (b * 2 + 1 < n) out[b * 2 + 1] = static_cast<T>(mean + std * rad * std::sin(th));
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

void philox_normal(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double mean,
                   double std) {
  if (dt == DType::f32)
    normal_typed(seed, counter, n, static_cast<float*>(out), mean, std);
  else
    normal_typed(seed, counter, n, static_cast<double*>(out), mean, std);
}

}  // namespace cadenza::kernels
