#pragma once
// N-d convolution (PyTorch's conv1d/2d/3d with stride, padding, dilation and
// one group) on contiguous buffers, forward beside backward. Every rank is
// run as 3-D: a 2-D convolution is a 3-D one whose first spatial dim is 1.
//
//   x: [B, Cin, D, H, W], w: [Cout, Cin, kD, kH, kW], bias: [Cout] -> y: [B, Cout, oD, oH, oW]
//   y[b, o, p] = bias[o] + sum_{c, q} w[o, c, q] * x[b, c, p * stride - pad + q * dilation]
//   (zero outside the input), per spatial dim.
//
// Each sample's input is unfolded into a column matrix [Cin * kvol, columns]
// (vol2col) for a block of output rows, and one GEMM multiplies the weight
// [Cout, Cin * kvol] by it. A 1x1x1 kernel with stride 1 and no padding reads
// the input as its own column matrix. The output sizes are given, not derived,
// so the same kernels serve the transposed convolution with output_padding.
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

struct ConvNdShape {
  int64_t B, Cin, Cout;
  int64_t in[3], out[3];  // spatial sizes, leading dims 1 below rank 3
  int64_t k[3], stride[3], pad[3], dilation[3];

  int64_t in_volume() const { return in[0] * in[1] * in[2]; }
  int64_t out_volume() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_volume() const { return k[0] * k[1] * k[2]; }
  // Multiply-adds of one pass (forward, or either gradient), times two.
  double flops() const {
    return 2.0 * static_cast<double>(B) * Cout * Cin * kernel_volume() * out_volume();
  }
};

// y = conv(x, w) + bias (bias may be null): [B, Cout, out...], overwritten. dt is f32 or f64.
void conv_nd_forward(DType dt, const ConvNdShape& s, const void* x, const void* w, const void* bias,
                     void* y);

// dx = the transposed convolution of g [B, Cout, out...] by w: [B, Cin, in...], overwritten.
void conv_nd_backward_input(DType dt, const ConvNdShape& s, const void* g, const void* w, void* dx);

// dw = sum over batch and output positions of g x x's windows: [Cout, Cin, k...], overwritten.
void conv_nd_backward_weight(DType dt, const ConvNdShape& s, const void* g, const void* x,
                             void* dw);

// db[o] = sum_{b, p} g[b, o, p]: [Cout], overwritten.
void conv_nd_backward_bias(DType dt, const ConvNdShape& s, const void* g, void* db);

}  // namespace cadenza::kernels
