#pragma once
// N-d convolution on CUDA, with kernels/cpu/conv_nd.h's signatures and
// semantics (every rank as 3-D, stride, padding, dilation, one group, output
// sizes given so the same kernels serve the transposed convolution), on
// contiguous device buffers. As on the CPU: a sample's input unfolded into a
// column matrix [Cin * kvol, out volume] (vol2col, a thread per entry) and
// one cuBLAS GEMM by the weight [Cout, Cin * kvol], over a chunk of samples
// at a time (strided-batched); the input gradient is the GEMM by the
// weight's transpose, folded back by a gather (each input element sums the
// columns that read it: no atomics, a fixed order). A pointwise kernel
// (1x1x1, stride 1, no padding) uses the input as its columns. The index
// arithmetic is kernels/conv_nd_math.h's, which the CPU tests check. f32 and
// f64; cuBLAS's math mode follows matmul.h's (no TF32 unless asked for).
#include "kernels/cpu/conv_nd.h"

namespace cadenza::kernels::cuda {

// y = conv(x, w) + bias (bias may be null): [B, Cout, out...], overwritten.
void conv_nd_forward(DType dt, const ConvNdShape& s, const void* x, const void* w, const void* bias, void* y);
// g [B, Cout, out...], w -> dx [B, Cin, in...], overwritten.
void conv_nd_backward_input(DType dt, const ConvNdShape& s, const void* g, const void* w, void* dx);
// g, x -> dw [Cout, Cin, k...], overwritten.
void conv_nd_backward_weight(DType dt, const ConvNdShape& s, const void* g, const void* x, void* dw);
// db[o] = sum_{b, p} g[b, o, p]: [Cout], overwritten; f32 sums in double.
void conv_nd_backward_bias(DType dt, const ConvNdShape& s, const void* g, void* db);

}  // namespace cadenza::kernels::cuda
