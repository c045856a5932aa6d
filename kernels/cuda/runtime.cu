#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/runtime.h"

namespace cadenza::cuda {

namespace {

constexpr size_t kStageBytes = size_t{8} << 20;
constexpr size_t kStageFrom = size_t{1} << 20;

// One allocator per device, made on first use.
CachingAllocator& allocator(int device) {
  static std::mutex mu;
  static std::vector<std::unique_ptr<CachingAllocator>> per_device;
  std::lock_guard<std::mutex> lock(mu);
  if (device < 0) throw std::runtime_error("CUDA: negative device index");
  if (per_device.size() <= static_cast<size_t>(device)) per_device.resize(static_cast<size_t>(device) + 1);
  auto& a = per_device[static_cast<size_t>(device)];
  if (!a)
    a = std::make_unique<CachingAllocator>(
        [device](size_t n) -> void* {
          CADENZA_CUDA_CHECK(cudaSetDevice(device));
          void* p = nullptr;
          cudaError_t err = cudaMalloc(&p, n);
          if (err == cudaErrorMemoryAllocation) {
            cudaGetLastError();  // clear it: the caller reports out of memory
            return nullptr;
          }
          CADENZA_CUDA_CHECK(err);
          return p;
        },
        [device](void* p) {
          CADENZA_CUDA_CHECK(cudaSetDevice(device));
          CADENZA_CUDA_CHECK(cudaFree(p));
        });
  return *a;
}

// A pinned host buffer for staging large copies (one per process; copies
// through it are serialised).
struct Stage {
  std::mutex mu;
  void* buf = nullptr;
  void* get() {
    if (!buf) CADENZA_CUDA_CHECK(cudaHostAlloc(&buf, kStageBytes, cudaHostAllocDefault));
    return buf;
  }
};
Stage& stage() {
  static Stage* s = new Stage();  // never destroyed: the driver may be gone at exit
  return *s;
}

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

void* device_allocate(size_t bytes, int device) { return allocator(device).allocate(bytes, nullptr); }

void device_release(void* p, size_t, int device) { allocator(device).release(p); }

// A host copy of `bytes`: directly when small, else chunk by chunk through
// the pinned buffer, `step(offset, n, buffer)` moving each chunk.
template <class Step>
void staged(size_t bytes, const Step& step) {
  Stage& s = stage();
  std::lock_guard<std::mutex> lock(s.mu);
  void* buf = s.get();
  for (size_t done = 0; done < bytes; done += kStageBytes) step(done, std::min(kStageBytes, bytes - done), buf);
}

void copy_to_host(void* host_dst, const void* src, size_t bytes, int device) {
  CADENZA_CUDA_CHECK(cudaSetDevice(device));
  if (bytes < kStageFrom) {
    CADENZA_CUDA_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
    return;
  }
  staged(bytes, [&](size_t done, size_t n, void* buf) {
    CADENZA_CUDA_CHECK(cudaMemcpy(buf, static_cast<const char*>(src) + done, n, cudaMemcpyDeviceToHost));
    std::memcpy(static_cast<char*>(host_dst) + done, buf, n);
  });
}

void copy_from_host(void* dst, const void* host_src, size_t bytes, int device) {
  CADENZA_CUDA_CHECK(cudaSetDevice(device));
  if (bytes < kStageFrom) {
    CADENZA_CUDA_CHECK(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
    return;
  }
  staged(bytes, [&](size_t done, size_t n, void* buf) {
    std::memcpy(buf, static_cast<const char*>(host_src) + done, n);
    CADENZA_CUDA_CHECK(cudaMemcpy(static_cast<char*>(dst) + done, buf, n, cudaMemcpyHostToDevice));
  });
}

void copy_within(void* dst, const void* src, size_t bytes, int device) {
  CADENZA_CUDA_CHECK(cudaSetDevice(device));
  CADENZA_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}

void zero(void* p, size_t bytes, int device) {
  CADENZA_CUDA_CHECK(cudaSetDevice(device));
  CADENZA_CUDA_CHECK(cudaMemset(p, 0, bytes));
}

void synchronize(int device) {
  CADENZA_CUDA_CHECK(cudaSetDevice(device));
  CADENZA_CUDA_CHECK(cudaDeviceSynchronize());
}

void empty_cache() {
  for (int d = 0; d < device_count(); ++d) allocator(d).empty_cache();
}

AllocatorStats allocator_stats(int device) { return allocator(device).stats(); }

}  // namespace cadenza::cuda
