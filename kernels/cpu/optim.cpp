#include "kernels/cpu/optim.h"

#include <cmath>

namespace cadenza::kernels {
namespace {

// Same operation order as torch.optim.Adam's single-tensor path.
template <class T>
void adam_typed(int64_t n, T* p, const T* g, T* m, T* v, const AdamParams& a) {
  const T b1 = T(a.beta1), b2 = T(a.beta2), lr = T(a.lr), wd = T(a.weight_decay), eps = T(a.eps);
  const T bc1 = T(1 - std::pow(a.beta1, static_cast<double>(a.step)));
  const T bc2_sqrt = T(std::sqrt(1 - std::pow(a.beta2, static_cast<double>(a.step))));
  const T step_size = lr / bc1;
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    T gi = g[i];
    if (a.decoupled)
      p[i] *= T(1) - lr * wd;
    else if (wd != T(0))
      gi += wd * p[i];
    m[i] += (gi - m[i]) * (T(1) - b1);
    v[i] = v[i] * b2 + gi * gi * (T(1) - b2);
    T denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    p[i] -= step_size * m[i] / denom;
  }
}

template <class T>
void sgd_typed(int64_t n, T* p, const T* g, T* buf, const SgdParams& s) {
  const T lr = T(s.lr), mom = T(s.momentum), damp = T(s.dampening), wd = T(s.weight_decay);
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    T gi = g[i];
    if (wd != T(0)) gi += wd * p[i];
    if (mom != T(0)) {
      buf[i] = s.first ? gi : buf[i] * mom + (T(1) - damp) * gi;
      gi = s.nesterov ? gi + mom * buf[i] : buf[i];
    }
    p[i] -= lr * gi;
  }
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

double sum_squares(DType dt, int64_t n, const void* x) {
  return dt == DType::f32 ? sumsq_typed(n, static_cast<const float*>(x))
                          : sumsq_typed(n, static_cast<const double*>(x));
}

void scale_inplace(DType dt, int64_t n, void* x, double s) {
  if (dt == DType::f32)
    scale_typed(n, static_cast<float*>(x), static_cast<float>(s));
  else
    scale_typed(n, static_cast<double*>(x), s);
}

}  // namespace cadenza::kernels
