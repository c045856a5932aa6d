#include <cublas_v2.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/matmul.h"

namespace cadenza::kernels::cuda {

namespace {

void check_cublas(cublasStatus_t s, const char* expr, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuBLAS error ") + cublasGetStatusString(s) + " in " + expr + " at " + file +
                             ":" + std::to_string(line));
}
#define CADENZA_CUBLAS_CHECK(expr) check_cublas((expr), #expr, __FILE__, __LINE__)

cublasHandle_t handle_for_current_device() {
  static std::mutex mu;
  static std::vector<cublasHandle_t> handles;
  int device = 0;
  CADENZA_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mu);
  if (handles.size() <= static_cast<size_t>(device)) handles.resize(static_cast<size_t>(device) + 1, nullptr);
  cublasHandle_t& h = handles[static_cast<size_t>(device)];
  if (!h) {
    CADENZA_CUBLAS_CHECK(cublasCreate(&h));
    const char* tf32 = std::getenv("CADENZA_ALLOW_TF32");
    CADENZA_CUBLAS_CHECK(cublasSetMathMode(h, tf32 && tf32[0] == '1' ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  }
  return h;
}

int as_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw std::invalid_argument(std::string("gemm (cuda): ") + what + " out of cuBLAS's range");
  return static_cast<int>(v);
}

}  // namespace

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS
// gets B first, with the same transposition flags.
void gemm(DType dt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const void* A,
          int64_t lda, const void* B, int64_t ldb, double beta, void* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  cublasHandle_t h = handle_for_current_device();
  const cublasOperation_t ob = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, oa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = as_int(N, "N"), n = as_int(M, "M"), k = as_int(K, "K");
  const int ldb_ = as_int(ldb, "ldb"), lda_ = as_int(lda, "lda"), ldc_ = as_int(ldc, "ldc");
  if (dt == DType::f32) {
    const float a = static_cast<float>(alpha), b = static_cast<float>(beta);
    CADENZA_CUBLAS_CHECK(cublasSgemm(h, ob, oa, m, n, k, &a, static_cast<const float*>(B), ldb_,
                                     static_cast<const float*>(A), lda_, &b, static_cast<float*>(C), ldc_));
  } else {
    CADENZA_CUBLAS_CHECK(cublasDgemm(h, ob, oa, m, n, k, &alpha, static_cast<const double*>(B), ldb_,
                                     static_cast<const double*>(A), lda_, &beta, static_cast<double*>(C), ldc_));
  }
}

}  // namespace cadenza::kernels::cuda
