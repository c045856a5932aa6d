#pragma once
// Device scratch for the CUDA kernels (included by .cu files only), from the
// backend's caching allocator under the current stream, given back on scope
// exit. Safe without a stream sync: the block goes back to that stream's
// cache, so its next user queues on the same stream, after the work that
// reads it here. (The kernel using it must not change streams in between.)
#include <cstddef>
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/runtime.h"

namespace cadenza::kernels::cuda {

class Scratch {
 public:
  // None for 0 bytes; std::runtime_error naming the op and `what` the
  // memory is for when the device is out of memory.
  Scratch(size_t bytes, const char* op, const char* what = "scratch") : bytes_(bytes) {
    if (bytes == 0) return;
    CADENZA_CUDA_CHECK(cudaGetDevice(&device_));
    p_ = cadenza::cuda::device_allocate(bytes, device_);
    if (!p_)
      throw std::runtime_error(std::string(op) + " (cuda): out of device memory for " +
                               std::to_string(bytes) + " bytes of " + what +
                               " on cuda:" + std::to_string(device_));
  }
  ~Scratch() {
    if (p_) cadenza::cuda::device_release(p_, bytes_, device_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  size_t bytes_;
  int device_ = 0;
  void* p_ = nullptr;
};

}  // namespace cadenza::kernels::cuda
