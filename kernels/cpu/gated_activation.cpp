#include "kernels/cpu/gated_activation.h"

#include "kernels/math.h"

namespace cadenza::kernels {

namespace {

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
    forward(B, C, T, static_cast<const float*>(x), static_cast<float*>(y));
  else
    forward(B, C, T, static_cast<const double*>(x), static_cast<double*>(y));
}

void gated_activation_backward(DType dt, int64_t B, int64_t C, int64_t T, const void* x, const void* g, void* dx) {
  if (dt == DType::f32)
    backward(B, C, T, static_cast<const float*>(x), static_cast<const float*>(g), static_cast<float*>(dx));
  else
    backward(B, C, T, static_cast<const double*>(x), static_cast<const double*>(g), static_cast<double*>(dx));
}

}  // namespace cadenza::kernels
