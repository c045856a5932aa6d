#include "kernels/cpu/optim.h"

#include <cmath>

#include "kernels/update_math.h"

namespace cadenza::kernels {
namespace {

// Same operation order as torch.optim.Adam's single-tensor path
// (kmath::adam_update, which the CUDA kernel runs too).
template <class T>
void adam_typed(int64_t n, T* p, const T* g, T* m, T* v, const kmath::AdamConsts<T>& c) {
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) kmath::adam_update(p[i], g[i], m[i], v[i], c);
}

// buf: null without momentum (sgd_update then leaves its buffer alone).
template <class T>
void sgd_typed(int64_t n, T* p, const T* g, T* buf, const kmath::SgdConsts<T>& c) {
  if (buf == nullptr) {
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      T none = 0;
      kmath::sgd_update(p[i], g[i], none, c);
    }
    return;
  }
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

template <class T>
void adam_list(int64_t count, const AdamTensor* t, const AdamParams& a) {
  for (int64_t i = 0; i < count; ++i)
    adam_typed(t[i].n, static_cast<T*>(t[i].p), static_cast<const T*>(t[i].g), static_cast<T*>(t[i].m),
               static_cast<T*>(t[i].v), kmath::adam_consts<T>(a, t[i].step));
}

template <class T>
void sgd_list(int64_t count, const SgdTensor* t, const SgdParams& s) {
  for (int64_t i = 0; i < count; ++i)
    sgd_typed(t[i].n, static_cast<T*>(t[i].p), static_cast<const T*>(t[i].g), static_cast<T*>(t[i].buf),
              kmath::sgd_consts<T>(s, t[i].first));
}

}  // namespace

void adam_step(DType dt, int64_t count, const AdamTensor* t, const AdamParams& a) {
  if (dt == DType::f32)
    adam_list<float>(count, t, a);
  else
    adam_list<double>(count, t, a);
}

void sgd_step(DType dt, int64_t count, const SgdTensor* t, const SgdParams& s) {
  if (dt == DType::f32)
    sgd_list<float>(count, t, s);
  else
    sgd_list<double>(count, t, s);
}

void sum_squares(DType dt, int64_t count, const int64_t* n, const void* const* x, double* out) {
  for (int64_t i = 0; i < count; ++i)
    out[i] = dt == DType::f32 ? sumsq_typed(n[i], static_cast<const float*>(x[i]))
                              : sumsq_typed(n[i], static_cast<const double*>(x[i]));
}

void scale_inplace(DType dt, int64_t count, const int64_t* n, void* const* x, double s) {
  for (int64_t i = 0; i < count; ++i)
    if (dt == DType::f32)
      scale_typed(n[i], static_cast<float*>(x[i]), static_cast<float>(s));
    else
      scale_typed(n[i], static_cast<double*>(x[i]), s);
}

}  // namespace cadenza::kernels
