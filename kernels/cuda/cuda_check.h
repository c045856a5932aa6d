#pragma once
// CADENZA_CUDA_CHECK(call): turns a failed CUDA runtime call into an
// exception naming the call, the file and the line.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace cadenza::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* expr, const char* file,
                                          int line) {
  throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorString(err) + " (" +
                           cudaGetErrorName(err) + ") in " + expr + " at " + file + ":" +
                           std::to_string(line));
}

}  // namespace cadenza::cuda

#define CADENZA_CUDA_CHECK(expr)                                                   \
  do {                                                                             \
    cudaError_t cadenza_err_ = (expr);                                             \
    if (cadenza_err_ != cudaSuccess)                                               \
      ::cadenza::cuda::throw_cuda_error(cadenza_err_, #expr, __FILE__, __LINE__);  \
  } while (0)
