#include "kernels/cpu/softmax.h"

#include <cmath>
#include <limits>

#include "kernels/math.h"

namespace cadenza::kernels {
namespace {

template <class T>
void softmax_typed(int64_t rows, int64_t C, const T* x, T* y, bool log) {
#pragma omp parallel for if (rows * C > 16384) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* in = x + r * C;
    T* out = y + r * C;
    T m;
    double s;
    kmath::row_stats(in, C, 1, m, s);
    if (log) {
      // (x - m) - log(s): subtracting m first is exact near the maximum,
      // where x - (m + log s) would round in m's precision.
      T ls = static_cast<T>(std::log(s));
      for (int64_t c = 0; c < C; ++c) out[c] = (in[c] - m) - ls;
    } else {
      T inv = static_cast<T>(1.0 / s);
      for (int64_t c = 0; c < C; ++c) out[c] = std::exp(in[c] - m) * inv;
    }
  }
}

// Row r = o * inner + i of [outer, C, inner] logits reads x[o, :, i], its
// classes `inner` apart (inner = 1: a contiguous row).
template <class T>
void cross_entropy_typed(int64_t rows, int64_t C, int64_t inner, const T* x, const int64_t* t,
                         int64_t ignore_index, T* loss, T* lse, T* valid, int64_t* safe,
                         int64_t* bad) {
  int64_t first_bad = std::numeric_limits<int64_t>::max();  // none (min's identity)
#pragma omp parallel for if (rows * C > 16384) schedule(static) reduction(min : first_bad)
  for (int64_t r = 0; r < rows; ++r) {
    const T* in = x + r / inner * C * inner + r % inner;
    T m;
    double s;
    kmath::row_stats(in, C, inner, m, s);
    lse[r] = kmath::ce_lse(m, s);
    const int64_t target = t[r];
    const bool ok = target != ignore_index && target >= 0 && target < C;
    if (target != ignore_index && !ok && r < first_bad) first_bad = r;
    loss[r] = ok ? kmath::ce_loss(in[target * inner], m, s) : T(0);
    valid[r] = ok ? T(1) : T(0);
    safe[r] = ok ? target : 0;
  }
  if (first_bad != std::numeric_limits<int64_t>::max() && (*bad < 0 || first_bad < *bad))
    *bad = first_bad;
}

template <class T>
void cross_entropy_backward_typed(int64_t rows, int64_t C, int64_t inner, const T* x,
                                  const int64_t* safe, const T* lse, const T* valid, const T* g,
                                  T* dx) {
  if (inner == 1) {
#pragma omp parallel for if (rows * C > 16384) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const T gr = g[r] * valid[r];
      for (int64_t c = 0; c < C; ++c)
        dx[r * C + c] = kmath::ce_grad(x[r * C + c], lse[r], c == safe[r], gr);
    }
    return;
  }
  const int64_t outer = rows / inner;
#pragma omp parallel for collapse(2) if (rows * C > 16384) schedule(static)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t r0 = o * inner, at = (o * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i)
        dx[at + i] =
            kmath::ce_grad(x[at + i], lse[r0 + i], c == safe[r0 + i], g[r0 + i] * valid[r0 + i]);
    }
}

}  // namespace

void cross_entropy_forward(DType dt, int64_t rows, int64_t C, int64_t inner, const void* x,
                           const int64_t* t, int64_t ignore_index, void* loss, void* lse,
                           void* valid, int64_t* safe, int64_t* bad) {
  if (dt == DType::f32)
    cross_entropy_typed<float>(rows, C, inner, static_cast<const float*>(x), t, ignore_index,
                               static_cast<float*>(loss), static_cast<float*>(lse),
                               static_cast<float*>(valid), safe, bad);
  else
    cross_entropy_typed<double>(rows, C, inner, static_cast<const double*>(x), t, ignore_index,
                                static_cast<double*>(loss), static_cast<double*>(lse),
                                static_cast<double*>(valid), safe, bad);
}

void cross_entropy_backward(DType dt, int64_t rows, int64_t C, int64_t inner, const void* x,
                            const int64_t* safe, const void* lse, const void* valid, const void* g,
                            void* dx) {
  if (dt == DType::f32)
    cross_entropy_backward_typed<float>(
        rows, C, inner, static_cast<const float*>(x), safe, static_cast<const float*>(lse),
        static_cast<const float*>(valid), static_cast<const float*>(g), static_cast<float*>(dx));
  else
    cross_entropy_backward_typed<double>(
        rows, C, inner, static_cast<const double*>(x), safe, static_cast<const double*>(lse),
        static_cast<const double*>(valid), static_cast<const double*>(g), static_cast<double*>(dx));
}

void softmax_forward(DType dt, int64_t rows, int64_t C, const void* x, void* y, bool log) {
  if (dt == DType::f32)
    softmax_typed<float>(rows, C, static_cast<const float*>(x), static_cast<float*>(y), log);
  else
    softmax_typed<double>(rows, C, static_cast<const double*>(x), static_cast<double*>(y), log);
}

}  // namespace cadenza::kernels
