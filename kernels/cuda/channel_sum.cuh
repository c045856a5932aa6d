#pragma once
// Per-channel sums over tensors laid out [B, C, L] (.cu files only): the
// batch-norm statistics and gradients, and the convolutions' bias gradient.
// Channel c's terms are j = b * L + l for j < B * L. A block per channel
// left most of a device idle when C is small (MusicGAN's 32-64 channels of a
// million terms each), so the terms are cut into `slices` equal ranges, a
// block per (channel, slice) sums its range, and a kernel per channel then
// adds the slices' partial sums in slice order. The slices depend on the
// shape only: a shape gives the same bits on every device, every run.
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/strided_layout.h"

namespace cadenza::kernels::cuda {

constexpr int kSumWarps = kThreads / 32;

// The sum of v over the block, returned to every thread. `slots` is shared
// memory of kSumWarps + 1 entries; the block must be kThreads wide. Warp
// sums first, then warp 0 adds those: a fixed order.
template <class A>
__device__ A block_sum(A v, A* slots) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kSumWarps ? slots[lane] : A(0);
    for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0) slots[kSumWarps] = v;
  }
  __syncthreads();
  const A total = slots[kSumWarps];
  __syncthreads();  // the slots are reused by the next sum
  return total;
}

// At least this many terms a slice, and at most this many slices.
constexpr int64_t kSliceTerms = 2048;
constexpr int64_t kMaxSlices = 64;

struct ChannelSlices {
  int64_t C = 0, n = 0, slices = 1;  // n = B * L terms a channel
  kmath::IndexDiv L;

  ChannelSlices(int64_t B, int64_t C_, int64_t L_) : C(C_), n(B * L_), L(L_, B * L_) {
    slices = (n + kSliceTerms - 1) / kSliceTerms;
    if (slices > kMaxSlices) slices = kMaxSlices;
    if (slices < 1) slices = 1;
  }
  __device__ int64_t begin(int64_t k) const { return n * k / slices; }
  // The flat index of channel c's term j.
  __device__ int64_t offset(int64_t c, int64_t j) const {
    const int64_t b = L.div(j);
    return (b * C + c) * L.d + (j - b * L.d);
  }
  // Blocks: channels on x (a grid-stride loop past 65535), slices on y.
  dim3 grid() const {
    return dim3(static_cast<unsigned>(C < 65535 ? C : 65535), static_cast<unsigned>(slices));
  }
};

// part[(k * C + c) * N + m] = the sum over slice k's terms of channel c of
// the m-th value f(c, i, v) adds to v (i: the term's flat index), in double.
template <int N, class F>
__global__ void channel_partials_kernel(ChannelSlices s, F f, double* part) {
  __shared__ double slots[kSumWarps + 1];
  const int64_t k = blockIdx.y, j0 = s.begin(k), j1 = s.begin(k + 1);
  for (int64_t c = blockIdx.x; c < s.C; c += gridDim.x) {
    double v[N] = {};
    for (int64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) f(c, s.offset(c, j), v);
    for (int m = 0; m < N; ++m) v[m] = block_sum(v[m], slots);
    if (threadIdx.x == 0)
      for (int m = 0; m < N; ++m) part[(k * s.C + c) * N + m] = v[m];
  }
}

// The total of value m of channel c: its slices' partial sums in slice order.
template <int N>
__device__ double channel_total(const double* part, int64_t C, int64_t slices, int64_t c, int m) {
  double t = 0;
  for (int64_t k = 0; k < slices; ++k) t += part[(k * C + c) * N + m];
  return t;
}

// db[o] = sum over b and t of g[b, o, t] (the convolutions' bias gradient).
template <class T>
struct BiasTerm {
  const T* g;
  __device__ void operator()(int64_t, int64_t i, double* v) const { v[0] += static_cast<double>(g[i]); }
};

template <class T>
__global__ void bias_grad_finish_kernel(int64_t C, int64_t slices, const double* part, T* db) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
       c += int64_t{gridDim.x} * blockDim.x)
    db[c] = static_cast<T>(channel_total<1>(part, C, slices, c, 0));
}

}  // namespace cadenza::kernels::cuda
