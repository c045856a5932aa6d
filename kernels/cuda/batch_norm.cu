#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/channel_sum.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/scratch.h"
#include "kernels/strided_layout.h"

namespace cadenza::kernels::cuda {

namespace {

// The statistics and the gradients' sums are per-channel sums in double,
// cut into slices (channel_sum.cuh): the terms below, then a kernel per
// channel that finishes them.

// Sum x; then, given the mean, sum (x - mean)^2 rounded to T, as the CPU.
template <class T>
struct SumTerm {
  const T* x;
  __device__ void operator()(int64_t, int64_t i, double* v) const { v[0] += static_cast<double>(x[i]); }
};
template <class T>
struct SquareTerm {
  const T* x;
  const T* mean;
  __device__ void operator()(int64_t c, int64_t i, double* v) const {
    const T d = x[i] - mean[c];
    v[0] += static_cast<double>(d * d);
  }
};
// The backward's sum g and sum g * (x - mean).
template <class T>
struct GradTerms {
  const T* x;
  const T* g;
  const T* mean;
  __device__ void operator()(int64_t c, int64_t i, double* v) const {
    const T gv = g[i];
    v[0] += static_cast<double>(gv);
    v[1] += static_cast<double>(gv * (x[i] - mean[c]));
  }
};

// out[c] = the channel's total / n, rounded to T (the mean, the variance).
template <class T>
__global__ void mean_of_kernel(int64_t C, int64_t slices, const double* part, double n, T* out) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
       c += int64_t{gridDim.x} * blockDim.x)
    out[c] = static_cast<T>(channel_total<1>(part, C, slices, c, 0) / n);
}

// scale[c] = w[c] / sqrt(var[c] + eps), shift[c] = bias[c] - mean[c] * scale[c],
// with the square root in double and both rounded to T, as on the CPU.
template <class T>
__global__ void scale_shift_kernel(int64_t C, const T* mean, const T* var, double eps, const T* w,
                                   const T* bias, T* scale, T* shift) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
       c += int64_t{gridDim.x} * blockDim.x) {
    const T k = static_cast<T>(1.0 / sqrt(static_cast<double>(var[c]) + eps)) * (w ? w[c] : T(1));
    scale[c] = k;
    shift[c] = (bias ? bias[c] : T(0)) - mean[c] * k;
  }
}

template <class T>
__global__ void normalize_kernel(kmath::IndexDiv C, kmath::IndexDiv L, int64_t total, const T* x,
                                 const T* scale, const T* shift, T* y) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t c = C.mod(L.div(i));
    y[i] = x[i] * scale[c] + shift[c];
  }
}

// From each channel's sum g and sum g * (x - mean): dw, db, and the three
// coefficients of dx (k, the mean of g, the centred term's factor) with the
// CPU's formulas and roundings.
template <class T>
__global__ void backward_finish_kernel(int64_t C, int64_t slices, const double* part, double n,
                                       const T* var, double eps, const T* w, T* dw, T* db,
                                       T* coef) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
       c += int64_t{gridDim.x} * blockDim.x) {
    const double sg = channel_total<2>(part, C, slices, c, 0);
    const double sgx = channel_total<2>(part, C, slices, c, 1);
    const double invstd = 1.0 / sqrt(static_cast<double>(var[c]) + eps);
    if (dw) dw[c] = static_cast<T>(sgx * invstd);
    if (db) db[c] = static_cast<T>(sg);
    const double k = (w ? static_cast<double>(w[c]) : 1.0) * invstd;
    coef[3 * c] = static_cast<T>(k);
    coef[3 * c + 1] = static_cast<T>(sg / n);
    coef[3 * c + 2] = static_cast<T>(invstd * invstd * sgx / n);
  }
}

// dx = k (g - mean g - (x - mean) cx), elementwise.
template <class T>
__global__ void backward_dx_kernel(kmath::IndexDiv C, kmath::IndexDiv L, int64_t total, const T* x,
                                   const T* g, const T* mean, const T* coef, T* dx) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t c = C.mod(L.div(i));
    dx[i] = coef[3 * c] * (g[i] - coef[3 * c + 1] - (x[i] - mean[c]) * coef[3 * c + 2]);
  }
}

void check_dtype(DType dt, const char* op) {
  if (dt != DType::f32 && dt != DType::f64)
    throw std::invalid_argument(std::string(op) + " (cuda): f32 or f64 only");
}

template <class T>
void stats(int64_t B, int64_t C, int64_t L, const T* x, T* mean, T* var) {
  if (C == 0) return;
  const ChannelSlices s(B, C, L);
  const cudaStream_t stream = current_stream();
  Scratch part(static_cast<size_t>(s.slices * C) * sizeof(double), "batch_norm_stats",
               "partial sums");
  const double n = static_cast<double>(s.n);
  // (Kernels named through pointers: the emulator's launch rewrite takes no
  // nested template arguments.)
  const auto sums = channel_partials_kernel<1, SumTerm<T>>;
  const auto squares = channel_partials_kernel<1, SquareTerm<T>>;
  sums<<<s.grid(), kThreads, 0, stream>>>(s, SumTerm<T>{x}, part.as<double>());
  mean_of_kernel<T><<<grid_for(C), kThreads, 0, stream>>>(C, s.slices, part.as<double>(), n, mean);
  squares<<<s.grid(), kThreads, 0, stream>>>(s, SquareTerm<T>{x, mean}, part.as<double>());
  mean_of_kernel<T><<<grid_for(C), kThreads, 0, stream>>>(C, s.slices, part.as<double>(), n, var);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

template <class T>
void forward(int64_t B, int64_t C, int64_t L, const T* x, const T* mean, const T* var, double eps,
             const T* w, const T* bias, T* y) {
  const int64_t total = B * C * L;
  if (total == 0) return;
  Scratch ss(2 * static_cast<size_t>(C) * sizeof(T), "batch_norm_forward",
             "per-channel scales and shifts");
  T* scale = ss.as<T>();
  T* shift = scale + C;
  scale_shift_kernel<T>
      <<<grid_for(C), kThreads, 0, current_stream()>>>(C, mean, var, eps, w, bias, scale, shift);
  CADENZA_CUDA_CHECK(cudaGetLastError());
  normalize_kernel<T><<<grid_for(total), kThreads, 0, current_stream()>>>(
      kmath::IndexDiv(C, total / L), kmath::IndexDiv(L, total), total, x, scale, shift, y);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

template <class T>
void backward(int64_t B, int64_t C, int64_t L, const T* x, const T* g, const T* mean, const T* var,
              double eps, const T* w, T* dx, T* dw, T* db) {
  if (C == 0 || (!dx && !dw && !db)) return;
  const ChannelSlices s(B, C, L);
  const cudaStream_t stream = current_stream();
  Scratch part(static_cast<size_t>(s.slices * C) * 2 * sizeof(double), "batch_norm_backward",
               "partial sums");
  Scratch coef(static_cast<size_t>(C) * 3 * sizeof(T), "batch_norm_backward",
               "per-channel coefficients");
  const auto sums = channel_partials_kernel<2, GradTerms<T>>;
  sums<<<s.grid(), kThreads, 0, stream>>>(s, GradTerms<T>{x, g, mean}, part.as<double>());
  backward_finish_kernel<T><<<grid_for(C), kThreads, 0, stream>>>(
      C, s.slices, part.as<double>(), static_cast<double>(s.n), var, eps, w, dw, db, coef.as<T>());
  const int64_t total = B * C * L;
  if (dx && total > 0)
    backward_dx_kernel<T><<<grid_for(total), kThreads, 0, stream>>>(
        kmath::IndexDiv(C, total / L), kmath::IndexDiv(L, total), total, x, g, mean, coef.as<T>(), dx);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void batch_norm_stats(DType dt, int64_t B, int64_t C, int64_t L, const void* x, void* mean,
                      void* var) {
  check_dtype(dt, "batch_norm_stats");
  if (dt == DType::f32)
    stats(B, C, L, static_cast<const float*>(x), static_cast<float*>(mean),
          static_cast<float*>(var));
  else
    stats(B, C, L, static_cast<const double*>(x), static_cast<double*>(mean),
          static_cast<double*>(var));
}

void batch_norm_forward(DType dt, int64_t B, int64_t C, int64_t L, const void* x, const void* mean,
                        const void* var, double eps, const void* w, const void* bias, void* y) {
  check_dtype(dt, "batch_norm_forward");
  if (dt == DType::f32)
    forward(B, C, L, static_cast<const float*>(x), static_cast<const float*>(mean),
            static_cast<const float*>(var), eps, static_cast<const float*>(w),
            static_cast<const float*>(bias), static_cast<float*>(y));
  else
    forward(B, C, L, static_cast<const double*>(x), static_cast<const double*>(mean),
            static_cast<const double*>(var), eps, static_cast<const double*>(w),
            static_cast<const double*>(bias), static_cast<double*>(y));
}

void batch_norm_backward(DType dt, int64_t B, int64_t C, int64_t L, const void* x, const void* g,
                         const void* mean, const void* var, double eps, const void* w, void* dx,
                         void* dw, void* db) {
  check_dtype(dt, "batch_norm_backward");
  if (dt == DType::f32)
    backward(B, C, L, static_cast<const float*>(x), static_cast<const float*>(g),
             static_cast<const float*>(mean), static_cast<const float*>(var), eps,
             static_cast<const float*>(w), static_cast<float*>(dx), static_cast<float*>(dw),
             static_cast<float*>(db));
  else
    backward(B, C, L, static_cast<const double*>(x), static_cast<const double*>(g),
             static_cast<const double*>(mean), static_cast<const double*>(var), eps,
             static_cast<const double*>(w), static_cast<double*>(dx), static_cast<double*>(dw),
             static_cast<double*>(db));
}

}  // namespace cadenza::kernels::cuda
