#include "kernels/cpu/conv1d.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/matmul.h"

namespace cadenza::kernels {

namespace {

// Tap k of w [Cout, Cin, K] as a [Cout, Cin] matrix; PyTorch's layout keeps
// a tap's weights K apart, so they are gathered once per call (weights are
// small next to the activations).
template <class T>
std::vector<T> taps_of(const Conv1dShape& s, const T* w) {
  const int64_t n = s.Cout * s.Cin;
  std::vector<T> out(static_cast<size_t>(n * s.K));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < s.K; ++k) out[k * n + i] = w[i * s.K + k];
  return out;
}

template <class T>
void forward(DType dt, const Conv1dShape& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t n = s.Cout * s.Cin;
  std::vector<T> packed;
  const T* taps = w;  // K == 1: already [Cout, Cin]
  if (s.K > 1) {
    packed = taps_of(s, w);
    taps = packed.data();
  }
  for (int64_t b = 0; b < s.B; ++b) {
    T* yb = y + b * s.Cout * s.To;
    const T* xb = x + b * s.Cin * s.T;
    for (int64_t o = 0; o < s.Cout; ++o) std::fill(yb + o * s.To, yb + (o + 1) * s.To, bias ? bias[o] : T(0));
    for (int64_t k = 0; k < s.K; ++k) {
      int64_t t0, t1;
      conv1d_tap_columns(s, k, &t0, &t1);
      if (t1 <= t0) continue;
      const int64_t off = k * s.dilation - s.pad_left;
      gemm(dt, false, false, s.Cout, t1 - t0, s.Cin, 1.0, taps + k * n, s.Cin, xb + t0 + off, s.T, 1.0, yb + t0,
           s.To);
    }
  }
}

template <class T>
void backward_input(DType dt, const Conv1dShape& s, const T* g, const T* w, T* dx) {
  const int64_t n = s.Cout * s.Cin;
  std::vector<T> packed;
  const T* taps = w;
  if (s.K > 1) {
    packed = taps_of(s, w);
    taps = packed.data();
  }
  std::memset(dx, 0, sizeof(T) * static_cast<size_t>(s.B * s.Cin * s.T));
  for (int64_t b = 0; b < s.B; ++b) {
    T* dxb = dx + b * s.Cin * s.T;
    const T* gb = g + b * s.Cout * s.To;
    for (int64_t k = 0; k < s.K; ++k) {
      int64_t t0, t1;
      conv1d_tap_columns(s, k, &t0, &t1);
      if (t1 <= t0) continue;
      const int64_t off = k * s.dilation - s.pad_left;
      // dx[:, t + off] += w_k^T g[:, t]
      gemm(dt, true, false, s.Cin, t1 - t0, s.Cout, 1.0, taps + k * n, s.Cin, gb + t0, s.To, 1.0, dxb + t0 + off,
           s.T);
    }
  }
}

template <class T>
void backward_weight(DType dt, const Conv1dShape& s, const T* g, const T* x, T* dw) {
  const int64_t n = s.Cout * s.Cin;
  std::vector<T> taps(static_cast<size_t>(n * s.K), T(0));
  for (int64_t k = 0; k < s.K; ++k) {
    int64_t t0, t1;
    conv1d_tap_columns(s, k, &t0, &t1);
    if (t1 <= t0) continue;
    const int64_t off = k * s.dilation - s.pad_left;
    for (int64_t b = 0; b < s.B; ++b) {
      // dw_k += g[:, t] x[:, t + off]^T over the tap's columns.
      gemm(dt, false, true, s.Cout, s.Cin, t1 - t0, 1.0, g + b * s.Cout * s.To + t0, s.To,
           x + b * s.Cin * s.T + t0 + off, s.T, 1.0, taps.data() + k * n, s.Cin);
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < s.K; ++k) dw[i * s.K + k] = taps[k * n + i];
}

}  // namespace

void conv1d_tap_columns(const Conv1dShape& s, int64_t k, int64_t* t0, int64_t* t1) {
  const int64_t off = k * s.dilation - s.pad_left;
  *t0 = std::max<int64_t>(0, -off);
  *t1 = std::min<int64_t>(s.To, s.T - off);
}

void conv1d_forward(DType dt, const Conv1dShape& s, const void* x, const void* w, const void* bias, void* y) {
  if (dt == DType::f32)
    forward(dt, s, static_cast<const float*>(x), static_cast<const float*>(w), static_cast<const float*>(bias),
            static_cast<float*>(y));
  else
    forward(dt, s, static_cast<const double*>(x), static_cast<const double*>(w), static_cast<const double*>(bias),
            static_cast<double*>(y));
}

void conv1d_backward_input(DType dt, const Conv1dShape& s, const void* g, const void* w, void* dx) {
  if (dt == DType::f32)
    backward_input(dt, s, static_cast<const float*>(g), static_cast<const float*>(w), static_cast<float*>(dx));
  else
    backward_input(dt, s, static_cast<const double*>(g), static_cast<const double*>(w), static_cast<double*>(dx));
}

void conv1d_backward_weight(DType dt, const Conv1dShape& s, const void* g, const void* x, void* dw) {
  if (dt == DType::f32)
    backward_weight(dt, s, static_cast<const float*>(g), static_cast<const float*>(x), static_cast<float*>(dw));
  else
    backward_weight(dt, s, static_cast<const double*>(g), static_cast<const double*>(x), static_cast<double*>(dw));
}

}  // namespace cadenza::kernels
