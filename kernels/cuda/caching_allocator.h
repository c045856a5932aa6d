#pragma once
// The device memory cache of the CUDA backend, in plain C++ (no CUDA
// header), so the CPU tests run its logic over a fake device.
//
// After PyTorch's CUDACachingAllocator, much reduced: sizes round up to
// 512 B below 1 MiB and to 2 MiB from there (size-class bins); a freed
// block stays cached under (stream, rounded size) and is handed out again
// only to the stream it was freed on, which needs no synchronisation since
// work on one stream runs in order; a request that the device cannot meet
// empties the cache and tries once more; empty_cache() gives every cached
// block back. Raw allocations are plain cudaMalloc/cudaFree, never managed
// memory.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cadenza::cuda {

struct AllocatorStats {
  int64_t allocated_bytes = 0;   // in live blocks (rounded sizes)
  int64_t reserved_bytes = 0;    // obtained from the device: live + cached
  int64_t peak_allocated_bytes = 0;
  int64_t peak_reserved_bytes = 0;
  int64_t allocations = 0;       // allocate() calls that returned a block
  int64_t cache_hits = 0;        // ... served from the cache
  int64_t device_allocations = 0, device_frees = 0;
  int64_t oom_retries = 0;       // cache emptied to satisfy a request
};

class CachingAllocator {
 public:
  using RawAlloc = std::function<void*(size_t)>;  // null when the device is out of memory
  using RawFree = std::function<void(void*)>;

  CachingAllocator(RawAlloc raw_alloc, RawFree raw_free)
      : raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)) {}
  ~CachingAllocator() { empty_cache(); }
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  static constexpr size_t kSmall = size_t{1} << 20;
  static size_t round(size_t n) {
    if (n == 0) n = 1;
    const size_t unit = n < kSmall ? 512 : (size_t{2} << 20);
    return (n + unit - 1) / unit * unit;
  }

  // A block of at least n bytes for work on `stream`; null when the device
  // has no memory left even after the cache was emptied.
  void* allocate(size_t n, const void* stream) {
    const size_t size = round(n);
    std::lock_guard<std::mutex> lock(mu_);
    auto key = std::make_pair(stream, size);
    void* p = nullptr;
    auto it = free_.find(key);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      ++s_.cache_hits;
    } else {
      p = raw_alloc_(size);
      if (!p && s_.reserved_bytes > s_.allocated_bytes) {
        ++s_.oom_retries;
        release_cached();
        p = raw_alloc_(size);
      }
      if (!p) return nullptr;
      ++s_.device_allocations;
      s_.reserved_bytes += static_cast<int64_t>(size);
      s_.peak_reserved_bytes = std::max(s_.peak_reserved_bytes, s_.reserved_bytes);
    }
    live_[p] = {size, stream};
    ++s_.allocations;
    s_.allocated_bytes += static_cast<int64_t>(size);
    s_.peak_allocated_bytes = std::max(s_.peak_allocated_bytes, s_.allocated_bytes);
    return p;
  }

  // Back to the cache of the stream it was allocated for.
  void release(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) throw std::logic_error("CachingAllocator: release of a pointer it did not allocate");
    s_.allocated_bytes -= static_cast<int64_t>(it->second.size);
    free_[{it->second.stream, it->second.size}].push_back(p);
    live_.erase(it);
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    release_cached();
  }

  AllocatorStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return s_;
  }

 private:
  struct Live {
    size_t size;
    const void* stream;
  };
  void release_cached() {
    for (auto& kv : free_)
      for (void* p : kv.second) {
        raw_free_(p);
        ++s_.device_frees;
        s_.reserved_bytes -= static_cast<int64_t>(kv.first.second);
      }
    free_.clear();
  }

  RawAlloc raw_alloc_;
  RawFree raw_free_;
  mutable std::mutex mu_;
  std::unordered_map<void*, Live> live_;
  std::map<std::pair<const void*, size_t>, std::vector<void*>> free_;
  AllocatorStats s_;
};

}  // namespace cadenza::cuda
