#include "kernels/cpu/batch_norm.h"

#include <cmath>
#include <omp.h>

namespace cadenza::kernels {

namespace {

// Channels go to threads; a channel's B runs of L values stay on one.
bool parallel(int64_t B, int64_t C, int64_t L) { return C > 1 && B * C * L > 32768 && !omp_in_parallel(); }

template <class T>
void stats(int64_t B, int64_t C, int64_t L, const T* x, T* mean, T* var) {
  const double n = static_cast<double>(B * L);
#pragma omp parallel for schedule(static) if (parallel(B, C, L))
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t b = 0; b < B; ++b) {
      const T* p = x + (b * C + c) * L;
      T part = 0;
#pragma omp simd reduction(+ : part)
      for (int64_t l = 0; l < L; ++l) part += p[l];
      s += part;
    }
    const double m = s / n;
    const T mt = static_cast<T>(m);
    double q = 0;
    for (int64_t b = 0; b < B; ++b) {
      const T* p = x + (b * C + c) * L;
      T part = 0;
#pragma omp simd reduction(+ : part)
      for (int64_t l = 0; l < L; ++l) part += (p[l] - mt) * (p[l] - mt);
      q += part;
    }
    mean[c] = mt;
    var[c] = static_cast<T>(q / n);
  }
}

template <class T>
void forward(int64_t B, int64_t C, int64_t L, const T* x, const T* mean, const T* var, double eps, const T* w,
             const T* bias, T* y) {
#pragma omp parallel for collapse(2) schedule(static) if (parallel(B, C, L))
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(var[c]) + eps)) * (w ? w[c] : T(1));
      const T shift = (bias ? bias[c] : T(0)) - mean[c] * scale;
      const T* p = x + (b * C + c) * L;
      T* q = y + (b * C + c) * L;
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) q[l] = p[l] * scale + shift;
    }
}

template <class T>
void backward(int64_t B, int64_t C, int64_t L, const T* x, const T* g, const T* mean, const T* var, double eps,
              const T* w, T* dx, T* dw, T* db) {
  const double n = static_cast<double>(B * L);
#pragma omp parallel for schedule(static) if (parallel(B, C, L))
  for (int64_t c = 0; c < C; ++c) {
    const T m = mean[c];
    const double invstd = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
    double sg = 0, sgx = 0;  // sum g, sum g * (x - mean)
    for (int64_t b = 0; b < B; ++b) {
      const T* xp = x + (b * C + c) * L;
      const T* gp = g + (b * C + c) * L;
      T a = 0, d = 0;
#pragma omp simd reduction(+ : a, d)
      for (int64_t l = 0; l < L; ++l) {
        a += gp[l];
        d += gp[l] * (xp[l] - m);
      }
      sg += a;
      sgx += d;
    }
    const double sum_gxhat = sgx * invstd;
    if (dw) dw[c] = static_cast<T>(sum_gxhat);
    if (db) db[c] = static_cast<T>(sg);
    if (!dx) continue;
    const double k = (w ? static_cast<double>(w[c]) : 1.0) * invstd;
    // dx = k * (g - sg / n - (x - mean) * invstd^2 * sgx / n)
    const T kt = static_cast<T>(k), mg = static_cast<T>(sg / n), cx = static_cast<T>(invstd * invstd * sgx / n);
    for (int64_t b = 0; b < B; ++b) {
      const T* xp = x + (b * C + c) * L;
      const T* gp = g + (b * C + c) * L;
      T* dp = dx + (b * C + c) * L;
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) dp[l] = kt * (gp[l] - mg - (xp[l] - m) * cx);
    }
  }
}

}  // namespace

void batch_norm_stats(DType dt, int64_t B, int64_t C, int64_t L, const void* x, void* mean, void* var) {
  if (dt == DType::f32)
    stats(B, C, L, static_cast<const float*>(x), static_cast<float*>(mean), static_cast<float*>(var));
  else
    stats(B, C, L, static_cast<const double*>(x), static_cast<double*>(mean), static_cast<double*>(var));
}

void batch_norm_forward(DType dt, int64_t B, int64_t C, int64_t L, const void* x, const void* mean,
                        const void* var, double eps, const void* w, const void* bias, void* y) {
  if (dt == DType::f32)
    forward(B, C, L, static_cast<const float*>(x), static_cast<const float*>(mean), static_cast<const float*>(var),
            eps, static_cast<const float*>(w), static_cast<const float*>(bias), static_cast<float*>(y));
  else
    forward(B, C, L, static_cast<const double*>(x), static_cast<const double*>(mean),
            static_cast<const double*>(var), eps, static_cast<const double*>(w), static_cast<const double*>(bias),
            static_cast<double*>(y));
}

void batch_norm_backward(DType dt, int64_t B, int64_t C, int64_t L, const void* x, const void* g,
                         const void* mean, const void* var, double eps, const void* w, void* dx, void* dw,
                         void* db) {
  if (dt == DType::f32)
    backward(B, C, L, static_cast<const float*>(x), static_cast<const float*>(g), static_cast<const float*>(mean),
             static_cast<const float*>(var), eps, static_cast<const float*>(w), static_cast<float*>(dx),
             static_cast<float*>(dw), static_cast<float*>(db));
  else
    backward(B, C, L, static_cast<const double*>(x), static_cast<const double*>(g),
             static_cast<const double*>(mean), static_cast<const double*>(var), eps, static_cast<const double*>(w),
             static_cast<double*>(dx), static_cast<double*>(dw), static_cast<double*>(db));
}

}  // namespace cadenza::kernels
