#pragma once
// What the CUDA convolutions share (conv1d.cu, conv_nd.cu; .cu files only):
// strided-batched cuBLAS GEMMs with alpha 1, and the bias kernels over
// outputs [B, Cout, To] (To: the output positions, any rank flattened).
#include <cstdint>

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
