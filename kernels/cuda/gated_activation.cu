#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gated_activation.h"
#include "kernels/cuda/launch.h"
#include "kernels/math.h"

namespace cadenza::kernels::cuda {

namespace {

// One thread per output element i = (b * C + c) * T + t; its two inputs sit
// C * T apart in x's row b.
template <class T>
__global__ void forward_kernel(int64_t C, int64_t L, int64_t n, const T* x, T* y) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t b = i / (C * L), ct = i % (C * L);
    const T* a = x + b * 2 * C * L + ct;
    y[i] = kmath::gate(a[0], a[C * L]);
  }
}

template <class T>
__global__ void backward_kernel(int64_t C, int64_t L, int64_t n, const T* x, const T* g, T* dx) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t b = i / (C * L), ct = i % (C * L);
    const int64_t j = b * 2 * C * L + ct;
    T da, ds;
    kmath::gate_backward(x[j], x[j + C * L], g[i], &da, &ds);
    dx[j] = da;
    dx[j + C * L] = ds;
  }
}

void check_dtype(DType dt, const char* op) {
  if (dt != DType::f32 && dt != DType::f64)
    throw std::invalid_argument(std::string(op) + " (cuda): f32 or f64 only");
}

}  // namespace

void gated_activation_forward(DType dt, int64_t B, int64_t C, int64_t T, const void* x, void* y) {
  check_dtype(dt, "gated_activation_forward");
  const int64_t n = B * C * T;
  if (n == 0) return;
  if (dt == DType::f32)
    forward_kernel<float><<<grid_for(n), kThreads, 0, current_stream()>>>(
        C, T, n, static_cast<const float*>(x), static_cast<float*>(y));
  else
    forward_kernel<double><<<grid_for(n), kThreads, 0, current_stream()>>>(
        C, T, n, static_cast<const double*>(x), static_cast<double*>(y));
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void gated_activation_backward(DType dt, int64_t B, int64_t C, int64_t T, const void* x,
                               const void* g, void* dx) {
  check_dtype(dt, "gated_activation_backward");
  const int64_t n = B * C * T;
  if (n == 0) return;
  if (dt == DType::f32)
    backward_kernel<float><<<grid_for(n), kThreads, 0, current_stream()>>>(
        C, T, n, static_cast<const float*>(x), static_cast<const float*>(g),
        static_cast<float*>(dx));
  else
    backward_kernel<double><<<grid_for(n), kThreads, 0, current_stream()>>>(
        C, T, n, static_cast<const double*>(x), static_cast<const double*>(g),
        static_cast<double*>(dx));
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cadenza::kernels::cuda
