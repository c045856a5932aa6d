#pragma once
// cuBLAS for the CUDA kernels (included by .cu files only): the status check
// and one handle per device and stream, shared by every kernel that calls
// cuBLAS (matmul, conv1d, conv_nd, rnn). cublas_handle() is bound to the
// current stream (kernels/cuda/stream.h), so GEMMs and the kernels around
// them run in the order issued. A handle per stream rather than one
// re-bound with cublasSetStream before each call: two threads on two
// streams never re-bind a handle under each other, and a handle's
// workspace is only ever used by its own stream's work, in order. FP32
// math without TF32 (cuBLAS's default math mode) unless CADENZA_ALLOW_TF32=1.
#include <cublas_v2.h>

#include <cstdint>

namespace cadenza::kernels::cuda {

// Throws std::runtime_error naming the status, the call and where it was.
void check_cublas(cublasStatus_t s, const char* expr, const char* file, int line);
#define CADENZA_CUBLAS_CHECK(expr) \
  ::cadenza::kernels::cuda::check_cublas((expr), #expr, __FILE__, __LINE__)

// The handle of the current device's current stream, made on first use.
cublasHandle_t cublas_handle();
// Destroys the handle of `stream` on `device`, if any (the runtime calls it
// when it destroys the stream, after the stream's work is done).
void release_cublas_handle(cudaStream_t stream, int device);

// A size as cuBLAS's int; std::invalid_argument naming the op and the size
// when it does not fit.
int cublas_int(int64_t v, const char* op, const char* what);

}  // namespace cadenza::kernels::cuda
