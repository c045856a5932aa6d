#pragma once
// The layout of N same-shape operands, each with its own strides (0 for a
// broadcast dim), reduced to the fewest dims, and the division by a fixed
// divisor that turns a linear index back into a multi-index. Shared by the
// CPU elementwise loop (kernels/cpu/strided.h) and the CUDA elementwise
// kernels (kernels/cuda/elementwise.cu); FastDiv is checked on the CPU
// (tests/engine/test_backend.cpp).
#include <array>
#include <cstdint>
#include <vector>

#include "kernels/math.h"

namespace cadenza::kernels {

template <int N>
struct StridedLayout {
  std::vector<int64_t> shape;
  std::array<std::vector<int64_t>, N> strides;  // in the unit of the strides given, times elem_size
};

// Drops size-1 dims and merges dims that are contiguous for every operand
// (outer stride = inner stride * inner size). strides are scaled by
// elem_size (1 keeps elements; the element sizes give bytes). At least one
// dim remains.
template <int N>
StridedLayout<N> coalesce(int ndim, const int64_t* shape, const std::array<const int64_t*, N>& st,
                          const std::array<int64_t, N>& elem_size) {
  StridedLayout<N> L;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    if (!L.shape.empty()) {
      bool merge = true;
      for (int k = 0; k < N; ++k)
        if (L.strides[k].back() != st[k][d] * elem_size[k] * shape[d]) merge = false;
      if (merge) {
        L.shape.back() *= shape[d];
        for (int k = 0; k < N; ++k) L.strides[k].back() = st[k][d] * elem_size[k];
        continue;
      }
    }
    L.shape.push_back(shape[d]);
    for (int k = 0; k < N; ++k) L.strides[k].push_back(st[k][d] * elem_size[k]);
  }
  if (L.shape.empty()) {  // a single element
    L.shape.push_back(1);
    for (int k = 0; k < N; ++k) L.strides[k].push_back(0);
  }
  return L;
}

}  // namespace cadenza::kernels

namespace cadenza::kmath {

// n / d for 0 <= n < 2^31 and 1 <= d <= 2^31 by a multiply-high, an add and
// a shift instead of a division (which a GPU runs as a long subroutine, and
// as a longer one in 64 bits). With s = ceil(log2 d) and
// m = floor(2^32 (2^s - d) / d) + 1, n / d = (mulhi(n, m) + n) >> s
// (Granlund and Montgomery's round-up method; the sum fits 32 bits because
// mulhi(n, m) <= n < 2^31).
struct FastDiv {
  uint32_t d = 1, magic = 1, shift = 0;
  FastDiv() = default;
  explicit FastDiv(uint32_t divisor) : d(divisor) {
    while (shift < 31 && (uint32_t{1} << shift) < d) ++shift;
    const uint64_t one = 1;
    magic = static_cast<uint32_t>(((one << 32) * ((one << shift) - d)) / d + 1);
  }
  CADENZA_HD uint32_t div(uint32_t n) const {
#ifdef __CUDA_ARCH__
    const uint32_t hi = __umulhi(n, magic);
#else
    const uint32_t hi = static_cast<uint32_t>((static_cast<uint64_t>(n) * magic) >> 32);
#endif
    return (hi + n) >> shift;
  }
};

// n / d for 0 <= n <= limit, both given on the host: FastDiv when the limit
// and d are below 2^31 (every tensor under 8 GiB of f32), a 64-bit division
// otherwise. The kernels' grid-stride loops take one per divisor of their
// flat index; the choice is the same for every thread of a launch.
struct IndexDiv {
  int64_t d = 1;
  FastDiv f;
  bool fast = true;
  IndexDiv() = default;
  IndexDiv(int64_t divisor, int64_t limit)
      : d(divisor),
        fast(divisor >= 1 && divisor <= (int64_t{1} << 31) && limit < (int64_t{1} << 31)) {
    if (fast) f = FastDiv(static_cast<uint32_t>(divisor));
  }
  CADENZA_HD int64_t div(int64_t n) const {
    return fast ? static_cast<int64_t>(f.div(static_cast<uint32_t>(n))) : n / d;
  }
  CADENZA_HD int64_t mod(int64_t n) const { return n - div(n) * d; }
};

}  // namespace cadenza::kmath
