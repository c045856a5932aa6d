#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/scratch.h"
#include "kernels/strided_layout.h"

namespace cadenza::kernels::cuda {

namespace {

constexpr int kWarps = kThreads / 32;

// The sum of v over the block, returned to every thread. `slots` is shared
// memory of kWarps + 1 entries; the block must be kThreads wide. Warp sums
// first, then warp 0 adds those: a fixed order, so a shape always gives the
// same bits.
template <class A>
__device__ A block_sum(A v, A* slots) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kWarps ? slots[lane] : A(0);
    for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0) slots[kWarps] = v;
  }
  __syncthreads();
  const A total = slots[kWarps];
  __syncthreads();  // the slots are reused by the next sum
  return total;
}

// Channel c's j-th of its B * L values, j = b * L + l.
// (L by IndexDiv: no 64-bit division per element.)
__device__ __forceinline__ int64_t offset_of(int64_t C, const kmath::IndexDiv& L, int64_t c,
                                             int64_t j) {
  const int64_t b = L.div(j);
  return (b * C + c) * L.d + (j - b * L.d);
}
template <class T>
__device__ T at(const T* x, int64_t C, const kmath::IndexDiv& L, int64_t c, int64_t j) {
  return x[offset_of(C, L, c, j)];
}

// A block per channel: the mean, then the mean square about the mean
// rounded to T, as the CPU does.
template <class T>
__global__ void stats_kernel(int64_t B, int64_t C, kmath::IndexDiv L, const T* x, T* mean, T* var) {
  using A = typename Acc<T>::type;
  __shared__ A slots[kWarps + 1];
  const int64_t n = B * L.d;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    A s = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += static_cast<A>(at(x, C, L, c, j));
    s = block_sum(s, slots);
    const T m = static_cast<T>(static_cast<double>(s) / static_cast<double>(n));
    A q = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const T d = at(x, C, L, c, j) - m;
      q += static_cast<A>(d * d);
    }
    q = block_sum(q, slots);
    if (threadIdx.x == 0) {
      mean[c] = m;
      var[c] = static_cast<T>(static_cast<double>(q) / static_cast<double>(n));
    }
  }
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

// A block per channel: sum g and sum g * (x - mean), then dw, db and dx from
// them with the CPU's formulas and roundings.
template <class T>
__global__ void backward_kernel(int64_t B, int64_t C, kmath::IndexDiv L, const T* x, const T* g,
                                const T* mean, const T* var, double eps, const T* w, T* dx, T* dw,
                                T* db) {
  __shared__ double slots[kWarps + 1];
  const int64_t n = B * L.d;
  const double nd = static_cast<double>(n);
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const T m = mean[c];
    const double invstd = 1.0 / sqrt(static_cast<double>(var[c]) + eps);
    double sg = 0, sgx = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const T gv = at(g, C, L, c, j);
      sg += static_cast<double>(gv);
      sgx += static_cast<double>(gv * (at(x, C, L, c, j) - m));
    }
    sg = block_sum(sg, slots);
    sgx = block_sum(sgx, slots);
    if (threadIdx.x == 0) {
      if (dw) dw[c] = static_cast<T>(sgx * invstd);
      if (db) db[c] = static_cast<T>(sg);
    }
    if (!dx) continue;
    const double k = (w ? static_cast<double>(w[c]) : 1.0) * invstd;
    const T kt = static_cast<T>(k), mg = static_cast<T>(sg / nd),
            cx = static_cast<T>(invstd * invstd * sgx / nd);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const int64_t i = offset_of(C, L, c, j);
      dx[i] = kt * (g[i] - mg - (x[i] - m) * cx);
    }
  }
}

void check_dtype(DType dt, const char* op) {
  if (dt != DType::f32 && dt != DType::f64)
    throw std::invalid_argument(std::string(op) + " (cuda): f32 or f64 only");
}

template <class T>
void stats(int64_t B, int64_t C, int64_t L, const T* x, T* mean, T* var) {
  if (C == 0) return;
  stats_kernel<T><<<grid_for(C * kThreads), kThreads, 0, current_stream()>>>(
      B, C, kmath::IndexDiv(L, B * L), x, mean, var);
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
  backward_kernel<T><<<grid_for(C * kThreads), kThreads, 0, current_stream()>>>(
      B, C, kmath::IndexDiv(L, B * L), x, g, mean, var, eps, w, dx, dw, db);
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
