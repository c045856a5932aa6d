#pragma once
// The one loop every elementwise kernel runs: N operands of the same shape,
// each with its own byte strides (0 for a broadcast dim). Adjacent dims that
// are laid out as one are merged first, so contiguous tensors reach the inner
// loop as a single run that the compiler can vectorise. The linear index space
// is split evenly across OpenMP threads.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "kernels/strided_layout.h"

namespace cadenza::kernels {

constexpr int64_t kParallelGrain = 32768;  // elements below which one thread is faster

// inner(std::array<char*, N> ptrs, int64_t n, const std::array<int64_t, N>& step)
// processes n elements along the last dim.
template <int N, class Inner>
void for_each_strided(int ndim, const int64_t* shape, const std::array<char*, N>& base,
                      const std::array<const int64_t*, N>& strides,
                      const std::array<int64_t, N>& elem_size, Inner inner) {
  int64_t total = 1;
  for (int d = 0; d < ndim; ++d) total *= shape[d];
  if (total == 0) return;
  StridedLayout<N> L = coalesce<N>(ndim, shape, strides, elem_size);
  const int nd = static_cast<int>(L.shape.size());
  const int64_t inner_n = L.shape[nd - 1];
  std::array<int64_t, N> step;
  for (int k = 0; k < N; ++k) step[k] = L.strides[k][nd - 1];

  auto run_range = [&](int64_t begin, int64_t end) {
    // Unravel `begin` into a multi-index, then walk row by row.
    std::vector<int64_t> idx(nd, 0);
    int64_t rem = begin;
    for (int d = nd - 1; d >= 0; --d) {
      idx[d] = rem % L.shape[d];
      rem /= L.shape[d];
    }
    int64_t pos = begin;
    while (pos < end) {
      std::array<char*, N> p;
      for (int k = 0; k < N; ++k) {
        int64_t off = 0;
        for (int d = 0; d < nd; ++d) off += idx[d] * L.strides[k][d];
        p[k] = base[k] + off;
      }
      int64_t n = std::min(inner_n - idx[nd - 1], end - pos);
      inner(p, n, step);
      pos += n;
      idx[nd - 1] += n;
      for (int d = nd - 1; d > 0 && idx[d] >= L.shape[d]; --d) {
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  };

  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (total < kParallelGrain || threads <= 1) {
    run_range(0, total);
    return;
  }
  threads = static_cast<int>(std::min<int64_t>(threads, total / (kParallelGrain / 4) + 1));
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t chunk = (total + nt - 1) / nt;
    int64_t b = std::min(total, t * chunk), e = std::min(total, b + chunk);
    if (b < e) run_range(b, e);
  }
}

}  // namespace cadenza::kernels
