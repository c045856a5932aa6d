#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/reduce.h"

namespace cadenza::kernels::cuda {

namespace {

template <class T>
__device__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return isnan(v);
  else
    return false;
}

// Which of (a, ia) and (b, ib) wins a max (or min): a NaN over a number, the
// larger (smaller) value, and on a tie the lower index.
template <class T>
__device__ bool first_wins(T a, int64_t ia, T b, int64_t ib, bool is_max) {
  const bool na = is_nan(a), nb = is_nan(b);
  if (na || nb) return na && (!nb || ia < ib);
  if (a == b) return ia < ib;
  return is_max ? a > b : a < b;
}

template <class T>
__global__ void sum_kernel(int64_t outer, int64_t R, int64_t inner, const T* x, T* out) {
  using A = typename Acc<T>::type;
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  const int lane = threadIdx.x % 32;
  for (int64_t w = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32; w < outer * inner; w += warps) {
    const int64_t o = w / inner, i = w % inner;
    const T* p = x + o * R * inner + i;
    A s = 0;
    for (int64_t r = lane; r < R; r += 32) s += static_cast<A>(p[r * inner]);
    for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
    if (lane == 0) out[w] = static_cast<T>(s);
  }
}

template <class T>
__global__ void extreme_kernel(bool is_max, bool want_index, int64_t outer, int64_t R, int64_t inner, const T* x,
                               void* out) {
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  const int lane = threadIdx.x % 32;
  for (int64_t w = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32; w < outer * inner; w += warps) {
    const int64_t o = w / inner, i = w % inner;
    const T* p = x + o * R * inner + i;
    T best = p[0];
    int64_t bi = 0;
    for (int64_t r = lane; r < R; r += 32) {
      T v = p[r * inner];
      if (first_wins(v, r, best, bi, is_max)) {
        best = v;
        bi = r;
      }
    }
    for (int off = 16; off > 0; off /= 2) {
      T ov = __shfl_down_sync(0xffffffffu, best, off);
      int64_t oi = __shfl_down_sync(0xffffffffu, bi, off);
      if (first_wins(ov, oi, best, bi, is_max)) {
        best = ov;
        bi = oi;
      }
    }
    if (lane == 0) {
      if (want_index)
        static_cast<int64_t*>(out)[w] = bi;
      else
        static_cast<T*>(out)[w] = best;
    }
  }
}

template <class T>
void typed(ReduceOp op, int64_t outer, int64_t R, int64_t inner, const T* x, void* out) {
  const int grid = grid_for(outer * inner * 32);
  if (op == ReduceOp::sum) {
    sum_kernel<T>
        <<<grid, kThreads, 0, current_stream()>>>(outer, R, inner, x, static_cast<T*>(out));
  } else {
    const bool is_max = op == ReduceOp::max || op == ReduceOp::argmax;
    const bool want_index = op == ReduceOp::argmax || op == ReduceOp::argmin;
    extreme_kernel<T>
        <<<grid, kThreads, 0, current_stream()>>>(is_max, want_index, outer, R, inner, x, out);
  }
}

}  // namespace

void reduce_forward(ReduceOp op, DType dt, int64_t outer, int64_t R, int64_t inner, const void* x, void* out) {
  if (outer * inner == 0) return;
  if (R == 0 && op != ReduceOp::sum) throw std::invalid_argument("reduce_forward (cuda): the extreme of an empty dim");
  switch (dt) {
    case DType::f32: typed(op, outer, R, inner, static_cast<const float*>(x), out); break;
    case DType::f64: typed(op, outer, R, inner, static_cast<const double*>(x), out); break;
    case DType::i32: typed(op, outer, R, inner, static_cast<const int32_t*>(x), out); break;
    case DType::i64: typed(op, outer, R, inner, static_cast<const int64_t*>(x), out); break;
  }
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cadenza::kernels::cuda
