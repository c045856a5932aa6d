#pragma once
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

// Row-major GEMM through Eigen: C[M,N] = alpha * op(A) * op(B) + beta * C.
// op(A) is A[M,K] (lda >= K) or, with trans_a, A stored as [K,M] (lda >= M).
// dt is f32 or f64.
void gemm(DType dt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
          const void* A, int64_t lda, const void* B, int64_t ldb, double beta, void* C, int64_t ldc);

}  // namespace cadenza::kernels
