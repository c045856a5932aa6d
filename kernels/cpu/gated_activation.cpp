#include "kernels/cpu/gated_activation.h"

#include <cstring>

#include "kernels/math.h"

namespace cadenza::kernels {

namespace {

// f32 on SIMD vectors: exp by range reduction and Cephes' polynomial (the
// math of kmath::fast_expf, lane by lane), so the gate costs a few FMAs
// per element instead of two libm calls.
#if defined(__AVX512F__)
constexpr int kW = 16;
#else
constexpr int kW = 8;
#endif
typedef float fvec __attribute__((vector_size(kW * sizeof(float))));
typedef int32_t ivec __attribute__((vector_size(kW * sizeof(int32_t))));

inline fvec splat(float v) { return fvec{} + v; }

inline fvec vexp(fvec x) {
  x = x < splat(-87.0f) ? splat(-87.0f) : x;
  x = x > splat(88.0f) ? splat(88.0f) : x;
  fvec t = x * 1.44269504088896341f;
  fvec n = __builtin_convertvector(__builtin_convertvector(t + (t >= 0 ? splat(0.5f) : splat(-0.5f)), ivec), fvec);
  fvec r = x - n * 0.693359375f + n * 2.12194440e-4f;
  fvec p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  ivec bits = (__builtin_convertvector(n, ivec) + 127) << 23;
  return p * reinterpret_cast<fvec&>(bits);
}
inline fvec vsigmoid(fvec x) { return 1.0f / (1.0f + vexp(-x)); }
inline fvec vtanh(fvec x) { return 2.0f / (1.0f + vexp(-2.0f * x)) - 1.0f; }

inline fvec vload(const float* p) {
  fvec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void vstore(float* p, fvec v) { std::memcpy(p, &v, sizeof v); }

void forward_f32(int64_t B, int64_t C, int64_t L, const float* x, float* y) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      const float* a = x + (b * 2 * C + c) * L;
      const float* s = a + C * L;
      float* out = y + (b * C + c) * L;
      int64_t t = 0;
      for (; t + kW <= L; t += kW) vstore(out + t, vtanh(vload(a + t)) * vsigmoid(vload(s + t)));
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
        fvec ta = vtanh(vload(a + t)), ss = vsigmoid(vload(s + t)), gv = vload(gr + t);
        vstore(da + t, gv * ss * (1.0f - ta * ta));
        vstore(ds + t, gv * ta * ss * (1.0f - ss));
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
