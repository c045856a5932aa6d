#pragma once
// What the CUDA convolutions share (conv1d.cu, conv_nd.cu; .cu files only):
// strided-batched cuBLAS GEMMs with alpha 1, and the bias kernels over
// outputs [B, Cout, To] (To: the output positions, any rank flattened).
#include <algorithm>
#include <cstdint>
#include <cstdlib>

// Beside this file: the CUDA emulator rewrites both into one directory.
#include "channel_sum.cuh"
#include "kernels/cuda/cublas.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/scratch.h"
#include "kernels/strided_layout.h"

namespace cadenza::kernels::cuda {

// Column-major C_i = alpha op(A_i) op(B_i) + beta C_i for i < batch, X_i =
// X + i * strideX (a stride of 0 shares one matrix), alpha = 1.
inline void gemm_batched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                         int k, const float* A, int lda, long long sa, const float* B, int ldb,
                         long long sb, float beta, float* C, int ldc, long long sc, int batch) {
  const float one = 1.f;
  CADENZA_CUBLAS_CHECK(cublasSgemmStridedBatched(h, ta, tb, m, n, k, &one, A, lda, sa, B, ldb, sb,
                                                 &beta, C, ldc, sc, batch));
}
inline void gemm_batched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                         int k, const double* A, int lda, long long sa, const double* B, int ldb,
                         long long sb, double beta, double* C, int ldc, long long sc, int batch) {
  const double one = 1.0;
  CADENZA_CUBLAS_CHECK(cublasDgemmStridedBatched(h, ta, tb, m, n, k, &one, A, lda, sa, B, ldb, sb,
                                                 &beta, C, ldc, sc, batch));
}

// y[b, o, t] = bias[o], or 0 without a bias: the taps then add on top.
// The channel of flat index i is i / To % Cout, by IndexDiv.
template <class T>
__global__ void fill_bias_kernel(kmath::IndexDiv to, kmath::IndexDiv cout, int64_t n, const T* bias,
                                 T* y) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x)
    y[i] = bias ? bias[cout.mod(to.div(i))] : T(0);
}

// The weight gradients sum a product per batch row. One strided-batched
// GEMM makes the products of many rows into a buffer (a GEMM per row gave
// a device of 132 multiprocessors the few tiles of one weight-sized result
// at a time), then sum_products_kernel adds them in row order, in T, as GEMMs
// with beta = 1 would: dw[i * K + k] (+)= sum over b < rows of
// part[b * n + i], for i < n.
template <class T>
__global__ void sum_products_kernel(int64_t n, int64_t K, int64_t k, int64_t rows, bool accumulate,
                                const T* part, T* dw) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    T acc = accumulate ? dw[i * K + k] : T(0);
    for (int64_t b = 0; b < rows; ++b) acc += part[b * n + i];
    dw[i * K + k] = acc;
  }
}

// How many rows' products of `bytes` each that buffer holds: 64 MB of them,
// at most B. CADENZA_CUDA_WGRAD_ROWS=r forces r, so the tests can cover
// the chunks without 64 MB.
inline int64_t wgrad_rows(int64_t B, int64_t bytes) {
  static const int64_t forced = [] {
    const char* e = std::getenv("CADENZA_CUDA_WGRAD_ROWS");
    return e ? std::max<int64_t>(0, std::atoll(e)) : int64_t{0};
  }();
  const int64_t r = forced > 0 ? forced : (int64_t{64} << 20) / std::max<int64_t>(1, bytes);
  return std::max<int64_t>(1, std::min(B, r));
}

// Launched on the current stream, for outputs [B, Cout, To].
template <class T>
void fill_bias(int64_t B, int64_t Cout, int64_t To, const T* bias, T* y) {
  const int64_t total = B * Cout * To;
  if (total == 0) return;
  fill_bias_kernel<T><<<grid_for(total), kThreads, 0, current_stream()>>>(
      kmath::IndexDiv(To, total), kmath::IndexDiv(Cout, B * Cout), total, bias, y);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

// db[o] = sum over b and t of g[b, o, t] (channel_sum.cuh's slices).
template <class T>
void bias_grad(int64_t B, int64_t Cout, int64_t To, const T* g, T* db) {
  if (Cout == 0) return;
  const ChannelSlices s(B, Cout, To);
  Scratch part(static_cast<size_t>(s.slices * Cout) * sizeof(double), "conv bias gradient",
               "partial sums");
  const auto sums = channel_partials_kernel<1, BiasTerm<T>>;  // (the emulator's rewrite: no nested <>)
  sums<<<s.grid(), kThreads, 0, current_stream()>>>(s, BiasTerm<T>{g}, part.as<double>());
  CADENZA_CUDA_CHECK(cudaGetLastError());
  bias_grad_finish_kernel<T><<<grid_for(Cout), kThreads, 0, current_stream()>>>(
      Cout, s.slices, part.as<double>(), db);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cadenza::kernels::cuda
