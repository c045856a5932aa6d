#include <climits>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/cublas.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/matmul.h"

namespace cadenza::kernels::cuda {

void check_cublas(cublasStatus_t s, const char* expr, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuBLAS error ") + cublasGetStatusString(s) + " in " +
                             expr + " at " + file + ":" + std::to_string(line));
}

int cublas_int(int64_t v, const char* op, const char* what) {
  if (v < 0 || v > INT_MAX)
    throw std::invalid_argument(std::string(op) + " (cuda): " + what + " = " + std::to_string(v) +
                                " is out of cuBLAS's int range");
  return static_cast<int>(v);
}

cublasHandle_t cublas_handle() {
  static std::mutex mu;
  static std::vector<cublasHandle_t> handles;
  int device = 0;
  CADENZA_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mu);
  if (handles.size() <= static_cast<size_t>(device))
    handles.resize(static_cast<size_t>(device) + 1, nullptr);
  cublasHandle_t& h = handles[static_cast<size_t>(device)];
  if (!h) {
    CADENZA_CUBLAS_CHECK(cublasCreate(&h));
    const char* tf32 = std::getenv("CADENZA_ALLOW_TF32");
    CADENZA_CUBLAS_CHECK(cublasSetMathMode(
        h, tf32 && tf32[0] == '1' ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  }
  return h;
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS
// gets B first, with the same transposition flags.
void gemm(DType dt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
          const void* A, int64_t lda, const void* B, int64_t ldb, double beta, void* C,
          int64_t ldc) {
  if (M == 0 || N == 0) return;
  cublasHandle_t h = cublas_handle();
  const cublasOperation_t ob = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                          oa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = cublas_int(N, "gemm", "N"), n = cublas_int(M, "gemm", "M"),
            k = cublas_int(K, "gemm", "K");
  const int ldb_ = cublas_int(ldb, "gemm", "ldb"), lda_ = cublas_int(lda, "gemm", "lda"),
            ldc_ = cublas_int(ldc, "gemm", "ldc");
  if (dt == DType::f32) {
    const float a = static_cast<float>(alpha), b = static_cast<float>(beta);
    CADENZA_CUBLAS_CHECK(cublasSgemm(h, ob, oa, m, n, k, &a, static_cast<const float*>(B), ldb_,
                                     static_cast<const float*>(A), lda_, &b, static_cast<float*>(C),
                                     ldc_));
  } else {
    CADENZA_CUBLAS_CHECK(cublasDgemm(h, ob, oa, m, n, k, &alpha, static_cast<const double*>(B),
                                     ldb_, static_cast<const double*>(A), lda_, &beta,
                                     static_cast<double*>(C), ldc_));
  }
}

}  // namespace cadenza::kernels::cuda
