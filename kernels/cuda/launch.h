#pragma once
// Launch geometry shared by the CUDA kernels: 256 threads a block, and a
// grid of at most 65535 blocks that grid-stride loops cover; every launch
// goes to current_stream() (kernels/cuda/stream.h).
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

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

namespace detail {
template <class Kernel, class Tuple, size_t... I>
cudaError_t launch_cooperative(Kernel k, dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Tuple& args,
                               std::index_sequence<I...>) {
  void* params[] = {static_cast<void*>(&std::get<I>(args))...};
  return cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(k), grid, block, params, smem, stream);
}
}  // namespace detail

// A cooperative launch (grid.sync() inside), with the arguments type-checked
// against the kernel's parameters as <<<>>> would, instead of a void* array.
template <class... P, class... A>
cudaError_t launch_cooperative(void (*k)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                               A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "launch_cooperative: one argument per kernel parameter");
#ifdef CADENZA_CUDA_EMU
  return ::cuemu::launch_cooperative(k, grid, block, smem, stream, std::forward<A>(args)...);
#else
  std::tuple<std::decay_t<P>...> copies(static_cast<P>(std::forward<A>(args))...);
  return detail::launch_cooperative(k, grid, block, smem, stream, copies, std::index_sequence_for<P...>{});
#endif
}

}  // namespace cadenza::kernels::cuda
