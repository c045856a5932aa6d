#include "kernels/cpu/softmax.h"

#include <cmath>
#include <limits>

namespace cadenza::kernels {
namespace {

template <class T>
void softmax_typed(int64_t rows, int64_t C, const T* x, T* y, bool log) {
#pragma omp parallel for if (rows * C > 16384) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* in = x + r * C;
    T* out = y + r * C;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t c = 0; c < C; ++c) m = in[c] > m ? in[c] : m;
    // An all -inf row is shifted by 0 (its result is NaN, as in PyTorch)
    // instead of by -inf, which would turn finite entries into NaN.
    if (std::isinf(m)) m = m > 0 ? m : T(0);
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(static_cast<double>(in[c] - m));
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

}  // namespace

void softmax_forward(DType dt, int64_t rows, int64_t C, const void* x, void* y, bool log) {
  if (dt == DType::f32)
    softmax_typed<float>(rows, C, static_cast<const float*>(x), static_cast<float*>(y), log);
  else
    softmax_typed<double>(rows, C, static_cast<const double*>(x), static_cast<double*>(y), log);
}

}  // namespace cadenza::kernels
