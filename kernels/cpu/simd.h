#pragma once
// The SIMD vector the CPU kernels compute on (GCC vector extensions): 16
// floats with AVX-512, 8 with AVX2 (and GCC splits it on older targets), with
// unaligned loads and stores. Vectors go by reference so that builds without
// AVX see no vector-argument ABI.
#include <cstdint>
#include <cstring>

namespace cadenza::kernels {

#if defined(__AVX512F__)
constexpr int kSimdLanes = 16;
#else
constexpr int kSimdLanes = 8;
#endif
typedef float fvec __attribute__((vector_size(kSimdLanes * sizeof(float))));
typedef int32_t ivec __attribute__((vector_size(kSimdLanes * sizeof(int32_t))));

inline fvec load_u(const float* p) {
  fvec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_u(float* p, const fvec& v) { std::memcpy(p, &v, sizeof v); }
inline void add_u(float* p, const fvec& v) { store_u(p, load_u(p) + v); }

}  // namespace cadenza::kernels
