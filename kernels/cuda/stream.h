#pragma once
// The stream every CUDA kernel, memset, copy and cuBLAS call of kernels/cuda
// is queued on (.cu files only): this thread's current stream of the
// current device, which engine/stream.h's StreamGuard sets and which is the
// device's default stream otherwise. One accessor, so a launch stays a
// one-liner: kernel<<<grid, kThreads, 0, current_stream()>>>(...).
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/runtime.h"

namespace cadenza::kernels::cuda {

inline cudaStream_t current_stream() {
  int device = 0;
  CADENZA_CUDA_CHECK(cudaGetDevice(&device));
  return static_cast<cudaStream_t>(cadenza::cuda::current_stream(device));
}

// Makes `device` current for its scope.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    CADENZA_CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != device) CADENZA_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() { cudaSetDevice(prev_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0;
};

}  // namespace cadenza::kernels::cuda
