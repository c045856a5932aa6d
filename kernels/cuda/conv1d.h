#pragma once
// Dilated 1-D convolution on CUDA, with kernels/cpu/conv1d.h's signatures and
// semantics (stride 1, one group, zero padding as the columns a tap skips),
// on contiguous device buffers. As on the CPU, each kernel tap is one GEMM
// over a shifted view of the input, here through cuBLAS: no padded copy and
// no im2col buffer, only the weights regrouped by tap ([K][Cout][Cin], small)
// when K > 1. Forward and input gradient batch over B (strided-batched GEMM,
// one call per tap); the weight gradient accumulates over B and the taps
// (one GEMM per tap and batch row). cuBLAS's math mode follows matmul.h's
// (no TF32 unless CADENZA_ALLOW_TF32=1). f32 and f64.
//
//   x: [B, Cin, T], w: [Cout, Cin, K], bias: [Cout] -> y: [B, Cout, To]
#include "kernels/cpu/conv1d.h"

namespace cadenza::kernels::cuda {

// y = conv1d(x, w) + bias (bias may be null); every element of y is written.
void conv1d_forward(DType dt, const Conv1dShape& s, const void* x, const void* w, const void* bias,
                    void* y);
// g: [B, Cout, To], w -> dx: [B, Cin, T], overwritten.
void conv1d_backward_input(DType dt, const Conv1dShape& s, const void* g, const void* w, void* dx);
// g: [B, Cout, To], x: [B, Cin, T] -> dw: [Cout, Cin, K], overwritten.
void conv1d_backward_weight(DType dt, const Conv1dShape& s, const void* g, const void* x, void* dw);
// g: [B, Cout, To] -> db: [Cout], overwritten; f32 sums in double.
void conv1d_backward_bias(DType dt, const Conv1dShape& s, const void* g, void* db);

}  // namespace cadenza::kernels::cuda
