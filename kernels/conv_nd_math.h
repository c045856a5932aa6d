#pragma once
// The index arithmetic of the N-d convolution's column matrix, shared by the
// CUDA kernels (kernels/cuda/conv_nd.cu: vol2col and the gather form of
// col2vol, a thread per channel plane and position) and checked on the CPU
// against kernels/cpu/conv_nd (tests/engine/test_conv_nd.cpp).
//
// Column row r = c * kvol + q holds input channel c seen through kernel tap
// q = (qd * kH + qh) * kW + qw; column p = (pd * oH + ph) * oW + pw is an
// output position. Entry (r, p) is x[c, p * stride - pad + q * dilation] per
// spatial dim, or zero where that falls in the padding.
#include <cstdint>

#include "kernels/cpu/conv_nd.h"
#include "kernels/math.h"

namespace cadenza::kmath {

// vol2col for one channel plane (its input volume) and one output position
// with coordinates pd: the plane's kvol column entries, tap q at dst[q * ld],
// zero in the padding. Taps loop per dim, so no division is needed.
template <class T>
CADENZA_HD void conv_nd_column(const kernels::ConvNdShape& s, const int64_t (&pd)[3],
                               const T* plane, T* dst, int64_t ld) {
  for (int64_t q0 = 0; q0 < s.k[0]; ++q0) {
    const int64_t i0 = pd[0] * s.stride[0] - s.pad[0] + q0 * s.dilation[0];
    const bool in0 = i0 >= 0 && i0 < s.in[0];
    for (int64_t q1 = 0; q1 < s.k[1]; ++q1) {
      const int64_t i1 = pd[1] * s.stride[1] - s.pad[1] + q1 * s.dilation[1];
      const bool in1 = in0 && i1 >= 0 && i1 < s.in[1];
      const int64_t row = (i0 * s.in[1] + i1) * s.in[2];
      for (int64_t q2 = 0; q2 < s.k[2]; ++q2) {
        const int64_t i2 = pd[2] * s.stride[2] - s.pad[2] + q2 * s.dilation[2];
        *dst = in1 && i2 >= 0 && i2 < s.in[2] ? plane[row + i2] : T(0);
        dst += ld;
      }
    }
  }
}

// The output coordinate o along one dim whose tap q reads input coordinate
// i (o * stride - pad + q * dilation = i), or -1 when none does. The
// division is in 32 bits where the coordinate allows it.
CADENZA_HD int64_t conv_nd_tap_back(int64_t i, int64_t q, int64_t stride, int64_t pad,
                                    int64_t dilation, int64_t out) {
  const int64_t t = i + pad - q * dilation;
  if (t < 0) return -1;
  int64_t o = t;
  if (stride != 1) {
    o = t < (int64_t{1} << 31) && stride < (int64_t{1} << 31)
            ? static_cast<int64_t>(static_cast<uint32_t>(t) / static_cast<uint32_t>(stride))
            : t / stride;
    if (o * stride != t) return -1;
  }
  return o < out ? o : -1;
}

// col2vol as a gather, for one channel plane and one input position with
// coordinates id: the sum, in tap order, of the column entries that read it
// (cols: the plane's kvol rows of P output positions).
template <class T>
CADENZA_HD T conv_nd_gather(const kernels::ConvNdShape& s, const int64_t (&id)[3], const T* cols,
                            int64_t P) {
  T acc = T(0);
  const int64_t k12 = s.k[1] * s.k[2];
  for (int64_t q0 = 0; q0 < s.k[0]; ++q0) {
    const int64_t o0 = conv_nd_tap_back(id[0], q0, s.stride[0], s.pad[0], s.dilation[0], s.out[0]);
    if (o0 < 0) continue;
    for (int64_t q1 = 0; q1 < s.k[1]; ++q1) {
      const int64_t o1 =
          conv_nd_tap_back(id[1], q1, s.stride[1], s.pad[1], s.dilation[1], s.out[1]);
      if (o1 < 0) continue;
      const T* row = cols + (q0 * k12 + q1 * s.k[2]) * P + (o0 * s.out[1] + o1) * s.out[2];
      for (int64_t q2 = 0; q2 < s.k[2]; ++q2) {
        const int64_t o2 =
            conv_nd_tap_back(id[2], q2, s.stride[2], s.pad[2], s.dilation[2], s.out[2]);
        if (o2 >= 0) acc += row[q2 * P + o2];
      }
    }
  }
  return acc;
}

// A 1x1x1 kernel with stride 1 and no padding over equal volumes: the input
// is its own column matrix (rows c, columns p), so no vol2col is needed.
CADENZA_HD bool conv_nd_is_pointwise(const kernels::ConvNdShape& s) {
  for (int d = 0; d < 3; ++d)
    if (s.k[d] != 1 || s.stride[d] != 1 || s.pad[d] != 0 || s.in[d] != s.out[d]) return false;
  return true;
}

}  // namespace cadenza::kmath
