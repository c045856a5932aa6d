#pragma once
// Dilated 1-D convolution (PyTorch's Conv1d with stride 1 and one group) on
// contiguous buffers, forward beside backward. Each kernel tap is one GEMM
// over a shifted view of the input: no padded copy and no im2col buffer. A
// tap whose shifted window leaves [0, T) runs on the columns that stay
// inside, which is what zero padding (symmetric, or causal on the left) means.
//
//   x: [B, Cin, T], w: [Cout, Cin, K], bias: [Cout] -> y: [B, Cout, To]
//   y[b, o, t] = bias[o] + sum_{c, k} w[o, c, k] * x[b, c, t + k * dilation - pad_left]
//   To = T + pad_left + pad_right - dilation * (K - 1)
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

struct Conv1dShape {
  int64_t B, Cin, T, Cout, K, dilation, pad_left, To;
};

// y = conv1d(x, w) + bias (bias may be null). dt is f32 or f64.
void conv1d_forward(DType dt, const Conv1dShape& s, const void* x, const void* w, const void* bias, void* y);

// dx[b, c, s] = sum_{o, k} w[o, c, k] * g[b, o, s - k * dilation + pad_left]: [B, Cin, T], overwritten.
void conv1d_backward_input(DType dt, const Conv1dShape& s, const void* g, const void* w, void* dx);

// dw[o, c, k] = sum_{b, t} g[b, o, t] * x[b, c, t + k * dilation - pad_left]: [Cout, Cin, K], overwritten.
void conv1d_backward_weight(DType dt, const Conv1dShape& s, const void* g, const void* x, void* dw);

// db[o] = sum_{b, t} g[b, o, t]: [Cout], overwritten.
void conv1d_backward_bias(DType dt, const Conv1dShape& s, const void* g, void* db);

// The output columns [t0, t1) whose tap k reads inside the input.
void conv1d_tap_columns(const Conv1dShape& s, int64_t k, int64_t* t0, int64_t* t1);

}  // namespace cadenza::kernels
