#include <cmath>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/softmax.h"
#include "kernels/math.h"
#include "kernels/strided_layout.h"

namespace cadenza::kernels::cuda {

namespace {

// A warp's row statistics: every lane gets the row's maximum m (shifted to
// 0 when infinite: an all -inf row gives NaN results, as PyTorch, instead of
// shifting by -inf) and s, the sum of exp(x - m) in double.
template <class T>
__device__ void row_stats(const T* in, int64_t C, int lane, T& m, double& s) {
  m = -INFINITY;
  for (int64_t c = lane; c < C; c += 32) m = in[c] > m ? in[c] : m;
  for (int off = 16; off > 0; off /= 2) {
    T o = __shfl_xor_sync(0xffffffffu, m, off);
    m = o > m ? o : m;
  }
  if (isinf(m)) m = m > 0 ? m : T(0);
  s = 0;
  for (int64_t c = lane; c < C; c += 32) s += exp(static_cast<double>(in[c] - m));
  for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
}

template <class T>
__global__ void softmax_kernel(int64_t rows, int64_t C, const T* x, T* y, bool log) {
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  const int lane = threadIdx.x % 32;
  for (int64_t r = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32; r < rows; r += warps) {
    const T* in = x + r * C;
    T* out = y + r * C;
    T m;
    double s;
    row_stats(in, C, lane, m, s);
    if (log) {
      const T ls = static_cast<T>(::log(s));
      for (int64_t c = lane; c < C; c += 32) out[c] = (in[c] - m) - ls;
    } else {
      const T inv = static_cast<T>(1.0 / s);
      for (int64_t c = lane; c < C; c += 32) out[c] = exp(in[c] - m) * inv;
    }
  }
}

// One row's loss from its statistics, and its target bookkeeping (`in`:
// the row's first element, `step` apart).
template <class T>
__device__ void ce_row(int64_t r, const T* in, int64_t step, T m, double s, int64_t C,
                       const int64_t* t, int64_t ignore_index, T* loss, T* lse, T* valid,
                       int64_t* safe, unsigned long long* bad) {
  lse[r] = kmath::ce_lse(m, s);
  const int64_t target = t[r];
  const bool ok = target != ignore_index && target >= 0 && target < C;
  if (target != ignore_index && !ok) atomicMin(bad, static_cast<unsigned long long>(r));
  loss[r] = ok ? kmath::ce_loss(in[target * step], m, s) : T(0);
  valid[r] = ok ? T(1) : T(0);
  safe[r] = ok ? target : 0;
}

// softmax_kernel's row statistics, then the target's loss on lane 0.
template <class T>
__global__ void cross_entropy_kernel(int64_t rows, int64_t C, const T* x, const int64_t* t,
                                     int64_t ignore_index, T* loss, T* lse, T* valid, int64_t* safe,
                                     unsigned long long* bad) {
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  const int lane = threadIdx.x % 32;
  for (int64_t r = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32; r < rows; r += warps) {
    const T* in = x + r * C;
    T m;
    double s;
    row_stats(in, C, lane, m, s);
    if (lane == 0) ce_row(r, in, 1, m, s, C, t, ignore_index, loss, lse, valid, safe, bad);
  }
}

// [outer, C, inner] logits: a thread per row r = o * inner + i, down its
// column x[o, :, i] with the CPU's row_stats.
template <class T>
__global__ void cross_entropy_column_kernel(int64_t rows, int64_t C, kmath::IndexDiv inner,
                                            const T* x, const int64_t* t, int64_t ignore_index,
                                            T* loss, T* lse, T* valid, int64_t* safe,
                                            unsigned long long* bad) {
  for (int64_t r = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; r < rows;
       r += int64_t{gridDim.x} * blockDim.x) {
    const int64_t o = inner.div(r);
    const T* in = x + o * C * inner.d + (r - o * inner.d);
    T m;
    double s;
    kmath::row_stats(in, C, inner.d, m, s);
    ce_row(r, in, inner.d, m, s, C, t, ignore_index, loss, lse, valid, safe, bad);
  }
}

// dx[o, c, i] for flat e = (o * C + c) * inner + i, row r = o * inner + i.
template <class T>
__global__ void cross_entropy_backward_kernel(int64_t n, kmath::IndexDiv C, kmath::IndexDiv inner,
                                              const T* x, const int64_t* safe, const T* lse,
                                              const T* valid, const T* g, T* dx) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n;
       e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t oc = inner.div(e), o = C.div(oc), r = o * inner.d + (e - oc * inner.d);
    dx[e] = kmath::ce_grad(x[e], lse[r], oc - o * C.d == safe[r], g[r] * valid[r]);
  }
}

}  // namespace

void cross_entropy_forward(DType dt, int64_t rows, int64_t C, int64_t inner, const void* x,
                           const int64_t* t, int64_t ignore_index, void* loss, void* lse,
                           void* valid, int64_t* safe, int64_t* bad) {
  if (rows == 0) return;
  auto* b = reinterpret_cast<unsigned long long*>(bad);
  auto launch = [&](auto v) {
    using T = decltype(v);
    const T* xt = static_cast<const T*>(x);
    T *l = static_cast<T*>(loss), *ls = static_cast<T*>(lse), *va = static_cast<T*>(valid);
    if (inner == 1)
      cross_entropy_kernel<T><<<grid_for(rows * 32), kThreads, 0, current_stream()>>>(
          rows, C, xt, t, ignore_index, l, ls, va, safe, b);
    else
      cross_entropy_column_kernel<T><<<grid_for(rows), kThreads, 0, current_stream()>>>(
          rows, C, kmath::IndexDiv(inner, rows), xt, t, ignore_index, l, ls, va, safe, b);
  };
  if (dt == DType::f32)
    launch(float{});
  else
    launch(double{});
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void cross_entropy_backward(DType dt, int64_t rows, int64_t C, int64_t inner, const void* x,
                            const int64_t* safe, const void* lse, const void* valid, const void* g,
                            void* dx) {
  const int64_t n = rows * C;
  if (n == 0) return;
  auto launch = [&](auto v) {
    using T = decltype(v);
    cross_entropy_backward_kernel<T><<<grid_for(n), kThreads, 0, current_stream()>>>(
        n, kmath::IndexDiv(C, n / inner), kmath::IndexDiv(inner, n), static_cast<const T*>(x), safe,
        static_cast<const T*>(lse), static_cast<const T*>(valid), static_cast<const T*>(g),
        static_cast<T*>(dx));
  };
  if (dt == DType::f32)
    launch(float{});
  else
    launch(double{});
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void softmax_forward(DType dt, int64_t rows, int64_t C, const void* x, void* y, bool log) {
  if (rows * C == 0) return;
  const int grid = grid_for(rows * 32);
  if (dt == DType::f32)
    softmax_kernel<float><<<grid, kThreads, 0, current_stream()>>>(
        rows, C, static_cast<const float*>(x), static_cast<float*>(y), log);
  else
    softmax_kernel<double><<<grid, kThreads, 0, current_stream()>>>(
        rows, C, static_cast<const double*>(x), static_cast<double*>(y), log);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cadenza::kernels::cuda
