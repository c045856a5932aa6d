#include "kernels/cpu/matmul.h"

#include "kernels/cpu/panel_gemm.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>

namespace cadenza::kernels {
namespace {

template <class T>
void gemm_typed(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using CMap = Eigen::Map<const RowMat, 0, Eigen::OuterStride<>>;
  using Map = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;
  Map c(C, M, N, Eigen::OuterStride<>(ldc));
  if (beta == T(0))
    c.setZero();
  else if (beta != T(1))
    c *= beta;
  if (K == 0) return;
  // A transposed operand is the same buffer read column-major: no copy.
  CMap a(A, ta ? K : M, ta ? M : K, Eigen::OuterStride<>(lda));
  CMap b(B, tb ? N : K, tb ? K : N, Eigen::OuterStride<>(ldb));
  if (!ta && !tb)
    c.noalias() += alpha * a * b;
  else if (ta && !tb)
    c.noalias() += alpha * a.transpose() * b;
  else if (!ta && tb)
    c.noalias() += alpha * a * b.transpose();
  else
    c.noalias() += alpha * a.transpose() * b.transpose();
}

}  // namespace

void gemm(DType dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const void* A,
          int64_t lda, const void* B, int64_t ldb, double beta, void* C, int64_t ldc) {
  // Eigen runs matrix-vector products on one thread; for a few rows against
  // a large matrix (sampling one token at a time) split the columns instead.
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (M <= 4 && threads > 1 && N >= 64 * threads && N * K >= (int64_t(1) << 16)) {
    const size_t es = dt == DType::f32 ? 4 : 8;
#pragma omp parallel num_threads(threads)
    {
      int t = omp_get_thread_num(), nt = omp_get_num_threads();
      int64_t chunk = ((N + nt - 1) / nt + 7) / 8 * 8;
      int64_t n0 = std::min(N, t * chunk), n1 = std::min(N, n0 + chunk);
      if (n1 > n0) {
        // Column n of op(B) starts at B + n * ldb (trans_b) or B + n (not).
        const char* b = static_cast<const char*>(B) + (tb ? n0 * ldb : n0) * es;
        char* c = static_cast<char*>(C) + n0 * es;
        gemm(dt, ta, tb, M, n1 - n0, K, alpha, A, lda, b, ldb, beta, c, ldc);
      }
    }
    return;
  }
  // f32 with enough rows to amortise packing op(B): the panel kernel (1.3-1.6x
  // Eigen's GEMM on the LSTM shapes, benchmarks/RESULTS.md). f64 (gradient
  // checks) and short products stay on Eigen.
  if (dt == DType::f32 && M >= 16) {
    panel_sgemm(ta, tb, M, N, K, static_cast<float>(alpha), static_cast<const float*>(A), lda,
                static_cast<const float*>(B), ldb, static_cast<float>(beta), static_cast<float*>(C), ldc,
                threads);
    return;
  }
  if (dt == DType::f32)
    gemm_typed<float>(ta, tb, M, N, K, static_cast<float>(alpha), static_cast<const float*>(A), lda,
                      static_cast<const float*>(B), ldb, static_cast<float>(beta),
                      static_cast<float*>(C), ldc);
  else
    gemm_typed<double>(ta, tb, M, N, K, alpha, static_cast<const double*>(A), lda,
                       static_cast<const double*>(B), ldb, beta, static_cast<double*>(C), ldc);
}

}  // namespace cadenza::kernels
