#include <climits>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/cublas.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/stream.h"

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

namespace {

std::mutex& handles_mutex() {
  static std::mutex mu;
  return mu;
}
// Never destroyed (as PyTorch's handle pool): the driver may be gone at exit.
std::map<std::pair<int, cudaStream_t>, cublasHandle_t>& handles() {
  static auto* h = new std::map<std::pair<int, cudaStream_t>, cublasHandle_t>();
  return *h;
}

}  // namespace

cublasHandle_t cublas_handle() {
  int device = 0;
  CADENZA_CUDA_CHECK(cudaGetDevice(&device));
  const cudaStream_t stream = current_stream();
  std::lock_guard<std::mutex> lock(handles_mutex());
  cublasHandle_t& h = handles()[{device, stream}];
  if (!h) {
    CADENZA_CUBLAS_CHECK(cublasCreate(&h));
    CADENZA_CUBLAS_CHECK(cublasSetStream(h, stream));
    const char* tf32 = std::getenv("CADENZA_ALLOW_TF32");
    CADENZA_CUBLAS_CHECK(cublasSetMathMode(
        h, tf32 && tf32[0] == '1' ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  }
  return h;
}

void release_cublas_handle(cudaStream_t stream, int device) {
  cublasHandle_t h = nullptr;
  {
    std::lock_guard<std::mutex> lock(handles_mutex());
    auto it = handles().find({device, stream});
    if (it == handles().end()) return;
    h = it->second;
    handles().erase(it);
  }
  if (h) CADENZA_CUBLAS_CHECK(cublasDestroy(h));
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
