#include "kernels/cpu/optim.h"

#include <cmath>

#include "kernels/update_math.h"

namespace cadenza::kernels {
namespace {

// Same operation order as torch.optim.Adam's single-tensor path
// (kmath::adam_update, which the CUDA kernel runs too).
template <class T>
void adam_typed(int64_t n, T* p, const T* g, T* m, T* v, const AdamParams& a) {
  const kmath::AdamConsts<T> c = kmath::adam_consts<T>(a);
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) kmath::adam_update(p[i], g[i], m[i], v[i], c);
}

template <class T>
void sgd_typed(int64_t n, T* p, const T* g, T* buf, const SgdParams& s) {
  const kmath::SgdConsts<T> c = kmath::sgd_consts<T>(s);
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) kmath::sgd_update(p[i], g[i], buf[i], c);
}

template <class T>
double sumsq_typed(int64_t n, const T* x) {
  double s = 0;
#pragma omp parallel for reduction(+ : s) if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return s;
}

template <class T>
void scale_typed(int64_t n, T* x, T s) {
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace

void adam_step(DType dt, int64_t n, void* p, const void* g, void* m, void* v, const AdamParams& a) {
  if (dt == DType::f32)
    adam_typed(n, static_cast<float*>(p), static_cast<const float*>(g), static_cast<float*>(m),
               static_cast<float*>(v), a);
  else
    adam_typed(n, static_cast<double*>(p), static_cast<const double*>(g), static_cast<double*>(m),
               static_cast<double*>(v), a);
}

void sgd_step(DType dt, int64_t n, void* p, const void* g, void* buf, const SgdParams& s) {
  if (dt == DType::f32)
    sgd_typed(n, static_cast<float*>(p), static_cast<const float*>(g), static_cast<float*>(buf), s);
  else
    sgd_typed(n, static_cast<double*>(p), static_cast<const double*>(g), static_cast<double*>(buf), s);
}

void sum_squares(DType dt, int64_t count, const int64_t* n, const void* const* x, double* out) {
  for (int64_t i = 0; i < count; ++i)
    out[i] = dt == DType::f32 ? sumsq_typed(n[i], static_cast<const float*>(x[i]))
                              : sumsq_typed(n[i], static_cast<const double*>(x[i]));
}

void scale_inplace(DType dt, int64_t n, void* x, double s) {
  if (dt == DType::f32)
    scale_typed(n, static_cast<float*>(x), static_cast<float>(s));
  else
    scale_typed(n, static_cast<double*>(x), s);
}

}  // namespace cadenza::kernels
