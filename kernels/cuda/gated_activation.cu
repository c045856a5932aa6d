#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gated_activation.h"
#include "kernels/cuda/launch.h"
#include "kernels/math.h"
#include "kernels/strided_layout.h"

namespace cadenza::kernels::cuda {

namespace {

// One thread per output element i = b * CL + ct (CL = C * T); its two
// inputs sit CL apart in x's row b, at b * 2 * CL + ct = i + b * CL.
template <class T>
__global__ void forward_kernel(kmath::IndexDiv CL, int64_t n, const T* x, T* y) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const T* a = x + i + CL.div(i) * CL.d;
    y[i] = kmath::gate(a[0], a[CL.d]);
  }
}

template <class T>
__global__ void backward_kernel(kmath::IndexDiv CL, int64_t n, const T* x, const T* g, T* dx) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t j = i + CL.div(i) * CL.d;
    T da, ds;
    kmath::gate_backward(x[j], x[j + CL.d], g[i], &da, &ds);
    dx[j] = da;
    dx[j + CL.d] = ds;
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
        kmath::IndexDiv(C * T, n), n, static_cast<const float*>(x), static_cast<float*>(y));
  else
    forward_kernel<double><<<grid_for(n), kThreads, 0, current_stream()>>>(
        kmath::IndexDiv(C * T, n), n, static_cast<const double*>(x), static_cast<double*>(y));
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void gated_activation_backward(DType dt, int64_t B, int64_t C, int64_t T, const void* x,
                               const void* g, void* dx) {
  check_dtype(dt, "gated_activation_backward");
  const int64_t n = B * C * T;
  if (n == 0) return;
  if (dt == DType::f32)
    backward_kernel<float><<<grid_for(n), kThreads, 0, current_stream()>>>(
        kmath::IndexDiv(C * T, n), n, static_cast<const float*>(x), static_cast<const float*>(g),
        static_cast<float*>(dx));
  else
    backward_kernel<double><<<grid_for(n), kThreads, 0, current_stream()>>>(
        kmath::IndexDiv(C * T, n), n, static_cast<const double*>(x), static_cast<const double*>(g),
        static_cast<double*>(dx));
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cadenza::kernels::cuda
