#include "kernels/cpu/index.h"

#include <cstring>

namespace cadenza::kernels {
namespace {

template <class T>
void index_select_typed(int64_t outer, int64_t N, int64_t inner, const T* x, const int64_t* idx,
                        int64_t L, T* out) {
#pragma omp parallel for collapse(2) if (outer * L * inner > 32768) schedule(static)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t l = 0; l < L; ++l)
      std::memcpy(out + (o * L + l) * inner, x + (o * N + idx[l]) * inner, sizeof(T) * inner);
}

// Several l may hit the same row, so rows are split by outer only.
template <class T>
void index_add_typed(int64_t outer, int64_t N, int64_t inner, T* out, const int64_t* idx, int64_t L,
                     const T* src) {
#pragma omp parallel for if (outer > 1 && outer * L * inner > 32768) schedule(static)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t l = 0; l < L; ++l) {
      T* dst = out + (o * N + idx[l]) * inner;
      const T* s = src + (o * L + l) * inner;
      for (int64_t i = 0; i < inner; ++i) dst[i] += s[i];
    }
}

template <class T>
void gather_typed(int64_t outer, int64_t N, int64_t inner, const T* x, const int64_t* idx, int64_t L,
                  T* out) {
#pragma omp parallel for if (outer * L * inner > 32768) schedule(static)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t l = 0; l < L; ++l)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t k = (o * L + l) * inner + i;
        out[k] = x[(o * N + idx[k]) * inner + i];
      }
}

template <class T>
void scatter_add_typed(int64_t outer, int64_t N, int64_t inner, T* out, const int64_t* idx,
                       int64_t L, const T* src) {
#pragma omp parallel for if (outer > 1 && outer * L * inner > 32768) schedule(static)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t l = 0; l < L; ++l)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t k = (o * L + l) * inner + i;
        out[(o * N + idx[k]) * inner + i] += src[k];
      }
}

}  // namespace

#define CADENZA_DISPATCH_ALL(dt, FN, ...)                    \
  switch (dt) {                                              \
    case DType::f32: FN<float>(__VA_ARGS__); break;          \
    case DType::f64: FN<double>(__VA_ARGS__); break;         \
    case DType::i32: FN<int32_t>(__VA_ARGS__); break;        \
    case DType::i64: FN<int64_t>(__VA_ARGS__); break;        \
  }

template <class T>
static void isel(int64_t o, int64_t n, int64_t in, const void* x, const int64_t* idx, int64_t L,
                 void* out) {
  index_select_typed<T>(o, n, in, static_cast<const T*>(x), idx, L, static_cast<T*>(out));
}
template <class T>
static void iadd(int64_t o, int64_t n, int64_t in, void* out, const int64_t* idx, int64_t L,
                 const void* src) {
  index_add_typed<T>(o, n, in, static_cast<T*>(out), idx, L, static_cast<const T*>(src));
}
template <class T>
static void gath(int64_t o, int64_t n, int64_t in, const void* x, const int64_t* idx, int64_t L,
                 void* out) {
  gather_typed<T>(o, n, in, static_cast<const T*>(x), idx, L, static_cast<T*>(out));
}
template <class T>
static void scat(int64_t o, int64_t n, int64_t in, void* out, const int64_t* idx, int64_t L,
                 const void* src) {
  scatter_add_typed<T>(o, n, in, static_cast<T*>(out), idx, L, static_cast<const T*>(src));
}

void index_select_forward(DType dt, int64_t outer, int64_t N, int64_t inner, const void* x,
                          const int64_t* idx, int64_t L, void* out) {
  CADENZA_DISPATCH_ALL(dt, isel, outer, N, inner, x, idx, L, out)
}
void index_add_forward(DType dt, int64_t outer, int64_t N, int64_t inner, void* out,
                       const int64_t* idx, int64_t L, const void* src) {
  CADENZA_DISPATCH_ALL(dt, iadd, outer, N, inner, out, idx, L, src)
}
void gather_forward(DType dt, int64_t outer, int64_t N, int64_t inner, const void* x,
                    const int64_t* idx, int64_t L, void* out) {
  CADENZA_DISPATCH_ALL(dt, gath, outer, N, inner, x, idx, L, out)
}
void scatter_add_forward(DType dt, int64_t outer, int64_t N, int64_t inner, void* out,
                         const int64_t* idx, int64_t L, const void* src) {
  CADENZA_DISPATCH_ALL(dt, scat, outer, N, inner, out, idx, L, src)
}

}  // namespace cadenza::kernels
