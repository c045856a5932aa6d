#pragma once
// The index arithmetic of the N-d convolution's column matrix, shared by the
// CUDA kernels (kernels/cuda/conv_nd.cu: vol2col and the gather form of
// col2vol) and checked on the CPU against kernels/cpu/conv_nd
// (tests/engine/test_conv_nd.cpp).
//
// Column row r = c * kvol + q holds input channel c seen through kernel tap
// q = (qd * kH + qh) * kW + qw; column p = (pd * oH + ph) * oW + pw is an
// output position. Entry (r, p) is x[c, p * stride - pad + q * dilation] per
// spatial dim, or zero where that falls in the padding.
#include <cstdint>

#include "kernels/cpu/conv_nd.h"
#include "kernels/math.h"

namespace cadenza::kmath {

// The input position (flattened within one channel's volume) that tap q reads
// for output position p, or -1 in the padding.
CADENZA_HD int64_t conv_nd_tap_input(const kernels::ConvNdShape& s, int64_t q, int64_t p) {
  const int64_t qd[3] = {q / (s.k[1] * s.k[2]), q / s.k[2] % s.k[1], q % s.k[2]};
  const int64_t pd[3] = {p / (s.out[1] * s.out[2]), p / s.out[2] % s.out[1], p % s.out[2]};
  int64_t at = 0;
  for (int d = 0; d < 3; ++d) {
    const int64_t i = pd[d] * s.stride[d] - s.pad[d] + qd[d] * s.dilation[d];
    if (i < 0 || i >= s.in[d]) return -1;
    at = at * s.in[d] + i;
  }
  return at;
}

// The inverse: the output position p whose tap q reads input position i, or
// -1 when no output does (i is not on that tap's stride grid, or the output
// it would belong to lies outside [0, out)).
CADENZA_HD int64_t conv_nd_tap_output(const kernels::ConvNdShape& s, int64_t q, int64_t i) {
  const int64_t qd[3] = {q / (s.k[1] * s.k[2]), q / s.k[2] % s.k[1], q % s.k[2]};
  const int64_t id[3] = {i / (s.in[1] * s.in[2]), i / s.in[2] % s.in[1], i % s.in[2]};
  int64_t at = 0;
  for (int d = 0; d < 3; ++d) {
    const int64_t t = id[d] + s.pad[d] - qd[d] * s.dilation[d];
    if (t < 0 || t % s.stride[d] != 0) return -1;
    const int64_t o = t / s.stride[d];
    if (o >= s.out[d]) return -1;
    at = at * s.out[d] + o;
  }
  return at;
}

// A 1x1x1 kernel with stride 1 and no padding over equal volumes: the input
// is its own column matrix (rows c, columns p), so no vol2col is needed.
CADENZA_HD bool conv_nd_is_pointwise(const kernels::ConvNdShape& s) {
  for (int d = 0; d < 3; ++d)
    if (s.k[d] != 1 || s.stride[d] != 1 || s.pad[d] != 0 || s.in[d] != s.out[d]) return false;
  return true;
}

}  // namespace cadenza::kmath
