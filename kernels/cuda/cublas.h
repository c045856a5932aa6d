#pragma once
// cuBLAS for the CUDA kernels (included by .cu files only): the status check
// and one handle per device, shared by every kernel that calls cuBLAS
// (matmul, conv1d). The handle runs on the default stream like every kernel
// here, so GEMMs and the kernels around them run in the order issued. FP32
// math without TF32 (cuBLAS's default math mode) unless CADENZA_ALLOW_TF32=1.
#include <cublas_v2.h>

#include <cstdint>

namespace cadenza::kernels::cuda {

// Throws std::runtime_error naming the status, the call and where it was.
void check_cublas(cublasStatus_t s, const char* expr, const char* file, int line);
#define CADENZA_CUBLAS_CHECK(expr) \
  ::cadenza::kernels::cuda::check_cublas((expr), #expr, __FILE__, __LINE__)

// The current device's handle, made on first use.
cublasHandle_t cublas_handle();

// A size as cuBLAS's int; std::invalid_argument naming the op and the size
// when it does not fit.
int cublas_int(int64_t v, const char* op, const char* what);

}  // namespace cadenza::kernels::cuda
