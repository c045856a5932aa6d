#include <cmath>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/softmax.h"

namespace cadenza::kernels::cuda {

namespace {

template <class T>
__global__ void softmax_kernel(int64_t rows, int64_t C, const T* x, T* y, bool log) {
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  const int lane = threadIdx.x % 32;
  for (int64_t r = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32; r < rows; r += warps) {
    const T* in = x + r * C;
    T* out = y + r * C;
    T m = -INFINITY;
    for (int64_t c = lane; c < C; c += 32) m = in[c] > m ? in[c] : m;
    for (int off = 16; off > 0; off /= 2) {
      T o = __shfl_xor_sync(0xffffffffu, m, off);
      m = o > m ? o : m;
    }
    // An all -inf row is shifted by 0 (NaN results, as PyTorch), not by -inf.
    if (isinf(m)) m = m > 0 ? m : T(0);
    double s = 0;
    for (int64_t c = lane; c < C; c += 32) s += exp(static_cast<double>(in[c] - m));
    for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (log) {
      const T ls = static_cast<T>(::log(s));
      for (int64_t c = lane; c < C; c += 32) out[c] = (in[c] - m) - ls;
    } else {
      const T inv = static_cast<T>(1.0 / s);
      for (int64_t c = lane; c < C; c += 32) out[c] = exp(in[c] - m) * inv;
    }
  }
}

}  // namespace

void softmax_forward(DType dt, int64_t rows, int64_t C, const void* x, void* y, bool log) {
  if (rows * C == 0) return;
  const int grid = grid_for(rows * 32);
  if (dt == DType::f32)
    softmax_kernel<float><<<grid, kThreads>>>(rows, C, static_cast<const float*>(x), static_cast<float*>(y), log);
  else
    softmax_kernel<double><<<grid, kThreads>>>(rows, C, static_cast<const double*>(x), static_cast<double*>(y), log);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cadenza::kernels::cuda
