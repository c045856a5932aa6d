#pragma once
// Launch geometry shared by the CUDA kernels: 256 threads a block, and a
// grid of at most 65535 blocks that grid-stride loops cover; every launch
// goes to current_stream() (kernels/cuda/stream.h).
#include <cstdint>

#include "kernels/cuda/stream.h"

namespace cadenza::kernels::cuda {

constexpr int kThreads = 256;

// The type a sum of T accumulates in: double for f32 (as the CPU kernels
// add their f32 partial sums in double), T otherwise.
template <class T>
struct Acc {
  using type = T;
};
template <>
struct Acc<float> {
  using type = double;
};

inline int grid_for(int64_t items) {
  int64_t b = (items + kThreads - 1) / kThreads;
  return static_cast<int>(b < 1 ? 1 : (b > 65535 ? 65535 : b));
}

}  // namespace cadenza::kernels::cuda
