#include "kernels/cpu/gated_activation.h"

#include "kernels/cpu/simd.h"
#include "kernels/cpu/simd_math.h"
#include "kernels/math.h"

namespace cadenza::kernels {

namespace {

constexpr int kW = kSimdLanes;

void forward_f32(int64_t B, int64_t C, int64_t L, const float* x, float* y) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      const float* a = x + (b * 2 * C + c) * L;
      const float* s = a + C * L;
      float* out = y + (b * C + c) * L;
      int64_t t = 0;
      for (; t + kW <= L; t += kW) store_u(out + t, vtanh(load_u(a + t)) * vsigmoid(load_u(s + t)));
      for (; t < L; ++t) out[t] = kmath::gate(a[t], s[t]);
    }
}

void backward_f32(int64_t B, int64_t C, int64_t L, const float* x, const float* g, float* dx) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      const float* a = x + (b * 2 * C + c) * L;
      const float* s = a + C * L;
      const float* gr = g + (b * C + c) * L;
      float* da = dx + (b * 2 * C + c) * L;
      float* ds = da + C * L;
      int64_t t = 0;
      for (; t + kW <= L; t += kW) {
        fvec ta = vtanh(load_u(a + t)), ss = vsigmoid(load_u(s + t)), gv = load_u(gr + t);
        store_u(da + t, gv * ss * (1.0f - ta * ta));
        store_u(ds + t, gv * ta * ss * (1.0f - ss));
      }
      for (; t < L; ++t) kmath::gate_backward(a[t], s[t], gr[t], &da[t], &ds[t]);
    }
}

template <class T>
void forward(int64_t B, int64_t C, int64_t L, const T* x, T* y) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      const T* a = x + (b * 2 * C + c) * L;
      const T* s = a + C * L;
      T* out = y + (b * C + c) * L;
      for (int64_t t = 0; t < L; ++t) out[t] = kmath::gate(a[t], s[t]);
    }
}

template <class T>
void backward(int64_t B, int64_t C, int64_t L, const T* x, const T* g, T* dx) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      const T* a = x + (b * 2 * C + c) * L;
      const T* s = a + C * L;
      const T* gr = g + (b * C + c) * L;
      T* da = dx + (b * 2 * C + c) * L;
      T* ds = da + C * L;
      for (int64_t t = 0; t < L; ++t) kmath::gate_backward(a[t], s[t], gr[t], &da[t], &ds[t]);
    }
}

}  // namespace

void gated_activation_forward(DType dt, int64_t B, int64_t C, int64_t T, const void* x, void* y) {
  if (dt == DType::f32)
    forward_f32(B, C, T, static_cast<const float*>(x), static_cast<float*>(y));
  else
    forward(B, C, T, static_cast<const double*>(x), static_cast<double*>(y));
}

void gated_activation_backward(DType dt, int64_t B, int64_t C, int64_t T, const void* x, const void* g, void* dx) {
  if (dt == DType::f32)
    backward_f32(B, C, T, static_cast<const float*>(x), static_cast<const float*>(g), static_cast<float*>(dx));
  else
    backward(B, C, T, static_cast<const double*>(x), static_cast<const double*>(g), static_cast<double*>(dx));
}

}  // namespace cadenza::kernels
