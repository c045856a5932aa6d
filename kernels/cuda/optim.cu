#include <algorithm>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/scratch.h"
#include "kernels/update_math.h"

namespace cadenza::kernels::cuda {

namespace {

template <class T>
__global__ void adam_kernel(int64_t n, T* p, const T* g, T* m, T* v, kmath::AdamConsts<T> c) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    kmath::adam_update(p[i], g[i], m[i], v[i], c);
}

template <class T>
__global__ void sgd_kernel(int64_t n, T* p, const T* g, T* buf, kmath::SgdConsts<T> c) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    kmath::sgd_update(p[i], g[i], buf[i], c);
}

// Each block's partial sum of squares in double: a grid-stride sum per
// thread, then warp shuffles and one shared-memory pass.
template <class T>
__global__ void sumsq_kernel(int64_t n, const T* x, double* partial) {
  double s = 0;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
  __shared__ double warp_sums[kThreads / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < kThreads / 32 ? warp_sums[lane] : 0.0;
    for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
    if (lane == 0) partial[blockIdx.x] = s;
  }
}

template <class T>
__global__ void scale_kernel(int64_t n, T* x, T s) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    x[i] *= s;
}

}  // namespace

void adam_step(DType dt, int64_t n, void* p, const void* g, void* m, void* v, const AdamParams& a) {
  if (n <= 0) return;
  if (dt == DType::f32)
    adam_kernel<float><<<grid_for(n), kThreads, 0, current_stream()>>>(
        n, static_cast<float*>(p), static_cast<const float*>(g), static_cast<float*>(m),
        static_cast<float*>(v), kmath::adam_consts<float>(a));
  else
    adam_kernel<double><<<grid_for(n), kThreads, 0, current_stream()>>>(
        n, static_cast<double*>(p), static_cast<const double*>(g), static_cast<double*>(m),
        static_cast<double*>(v), kmath::adam_consts<double>(a));
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void sgd_step(DType dt, int64_t n, void* p, const void* g, void* buf, const SgdParams& s) {
  if (n <= 0) return;
  if (dt == DType::f32)
    sgd_kernel<float><<<grid_for(n), kThreads, 0, current_stream()>>>(
        n, static_cast<float*>(p), static_cast<const float*>(g), static_cast<float*>(buf),
        kmath::sgd_consts<float>(s));
  else
    sgd_kernel<double><<<grid_for(n), kThreads, 0, current_stream()>>>(
        n, static_cast<double*>(p), static_cast<const double*>(g), static_cast<double*>(buf),
        kmath::sgd_consts<double>(s));
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

// Each tensor's block partials go into one buffer, which comes back in one
// copy on the current stream (not a cudaMalloc/cudaFree pair, whose free
// waits for every stream of the device) and one synchronisation for all
// the tensors; each tensor's sum adds its partials in block order.
void sum_squares(DType dt, int64_t count, const int64_t* n, const void* const* x, double* out) {
  std::vector<int64_t> at(static_cast<size_t>(count) + 1, 0);
  for (int64_t i = 0; i < count; ++i)
    at[i + 1] = at[i] + (n[i] > 0 ? std::min(grid_for(n[i]), 1024) : 0);
  const int64_t total = at[count];
  if (total == 0) {
    std::fill(out, out + count, 0.0);
    return;
  }
  Scratch partial(sizeof(double) * static_cast<size_t>(total), "sum_squares", "partial sums");
  const cudaStream_t stream = current_stream();
  for (int64_t i = 0; i < count; ++i) {
    const int grid = static_cast<int>(at[i + 1] - at[i]);
    if (grid == 0) continue;
    double* p = partial.as<double>() + at[i];
    if (dt == DType::f32)
      sumsq_kernel<float><<<grid, kThreads, 0, stream>>>(n[i], static_cast<const float*>(x[i]), p);
    else
      sumsq_kernel<double><<<grid, kThreads, 0, stream>>>(n[i], static_cast<const double*>(x[i]), p);
    CADENZA_CUDA_CHECK(cudaGetLastError());
  }
  std::vector<double> host(static_cast<size_t>(total));
  CADENZA_CUDA_CHECK(cudaMemcpyAsync(host.data(), partial.as<double>(), sizeof(double) * total,
                                     cudaMemcpyDeviceToHost, stream));
  CADENZA_CUDA_CHECK(cudaStreamSynchronize(stream));
  for (int64_t i = 0; i < count; ++i) {
    double s = 0;
    for (int64_t k = at[i]; k < at[i + 1]; ++k) s += host[k];  // in block order: the same sum every run
    out[i] = s;
  }
}

void scale_inplace(DType dt, int64_t n, void* x, double s) {
  if (n <= 0) return;
  if (dt == DType::f32)
    scale_kernel<float><<<grid_for(n), kThreads, 0, current_stream()>>>(n, static_cast<float*>(x),
                                                                        static_cast<float>(s));
  else
    scale_kernel<double>
        <<<grid_for(n), kThreads, 0, current_stream()>>>(n, static_cast<double*>(x), s);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cadenza::kernels::cuda
