#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/random.h"
#include "kernels/update_math.h"

namespace cadenza::kernels::cuda {

namespace {

// One thread per Philox block: four uniforms (f32 and f64 alike, as the CPU).
template <class T>
__global__ void uniform_kernel(uint64_t seed, uint64_t counter, int64_t n, T* out, double lo, double hi) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; b < blocks; b += int64_t{gridDim.x} * blockDim.x) {
    uint32_t r[4];
    kmath::philox_block(seed, counter + static_cast<uint64_t>(b), r);
    for (int k = 0; k < 4 && b * 4 + k < n; ++k) out[b * 4 + k] = kmath::philox_uniform_lane<T>(r, k, lo, hi);
  }
}

template <class T>
__global__ void normal_kernel(uint64_t seed, uint64_t counter, int64_t n, T* out, double mean, double std) {
  const int64_t blocks = (n + 1) / 2;
  for (int64_t b = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; b < blocks; b += int64_t{gridDim.x} * blockDim.x) {
    uint32_t r[4];
    kmath::philox_block(seed, counter + static_cast<uint64_t>(b), r);
    T x, y;
    kmath::philox_normal_pair(r, mean, std, &x, &y);
    out[b * 2] = x;
    if (b * 2 + 1 < n) out[b * 2 + 1] = y;
  }
}

}  // namespace

void philox_uniform(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double lo, double hi) {
  if (n <= 0) return;
  const int64_t blocks = (n + 3) / 4;
  if (dt == DType::f32)
    uniform_kernel<float><<<grid_for(blocks), kThreads, 0, current_stream()>>>(
        seed, counter, n, static_cast<float*>(out), lo, hi);
  else
    uniform_kernel<double><<<grid_for(blocks), kThreads, 0, current_stream()>>>(
        seed, counter, n, static_cast<double*>(out), lo, hi);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void philox_normal(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double mean, double std) {
  if (n <= 0) return;
  const int64_t blocks = (n + 1) / 2;
  if (dt == DType::f32)
    normal_kernel<float><<<grid_for(blocks), kThreads, 0, current_stream()>>>(
        seed, counter, n, static_cast<float*>(out), mean, std);
  else
    normal_kernel<double><<<grid_for(blocks), kThreads, 0, current_stream()>>>(
        seed, counter, n, static_cast<double*>(out), mean, std);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cadenza::kernels::cuda
