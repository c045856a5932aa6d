#pragma once
// Device scratch for the CUDA kernels (included by .cu files only), from the
// backend's caching allocator under the current stream, given back on scope
// exit. Safe without a stream sync: the block goes back to that stream's
// cache, so its next user queues on the same stream, after the work that
// reads it here. (The kernel using it must not change streams in between.)
#include <cstddef>
#include <memory>
#include <vector>
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

// A device buffer that lives as long as its owner and grows on demand (the
// persistent kernels' weights and queues), from the same caching allocator
// under the current stream. `p` is null until the first resize.
class DeviceBuffer {
 public:
  void* p = nullptr;
  size_t bytes = 0;
  // At least n bytes (the contents are lost when it grows).
  void resize(size_t n, const char* op) {
    if (p && n <= bytes) return;
    s_.reset();
    p = nullptr;
    s_ = std::make_unique<Scratch>(n > 0 ? n : 16, op);
    p = s_->as<void>();
    bytes = n;
  }
  template <class T>
  T* as() const {
    return static_cast<T*>(p);
  }
  // n bytes of src at byte `at`, queued on `stream`: src must live until
  // the stream has done it.
  void put(const void* src, size_t n, size_t at, cudaStream_t stream) {
    if (n) CADENZA_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(p) + at, src, n, cudaMemcpyHostToDevice, stream));
  }
  // Resized to v and filled with it, queued on `stream`.
  template <class T>
  void upload(const std::vector<T>& v, cudaStream_t stream, const char* op) {
    resize(v.size() * sizeof(T), op);
    put(v.data(), v.size() * sizeof(T), 0, stream);
  }
  void zero(cudaStream_t stream) {
    if (bytes) CADENZA_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream));
  }

 private:
  std::unique_ptr<Scratch> s_;
};

}  // namespace cadenza::kernels::cuda
