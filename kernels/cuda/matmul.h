#pragma once
// Row-major GEMM on CUDA through cuBLAS, with kernels/cpu/matmul.h's
// signature: C[M,N] = alpha * op(A) * op(B) + beta * C on device buffers.
// On the device's one cuBLAS handle (kernels/cuda/cublas.h): FP32 math without
// TF32 (cuBLAS's default math mode), unless CADENZA_ALLOW_TF32=1.
#include "kernels/cpu/matmul.h"

namespace cadenza::kernels::cuda {

void gemm(DType dt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const void* A,
          int64_t lda, const void* B, int64_t ldb, double beta, void* C, int64_t ldc);

}  // namespace cadenza::kernels::cuda
