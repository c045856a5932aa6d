#pragma once
// The device memory cache of the CUDA backend, in plain C++ (no CUDA
// header), so the CPU tests run its logic over a fake device.
//
// After PyTorch's CUDACachingAllocator, much reduced: sizes round up to
// 512 B below 1 MiB and to 2 MiB from there (size-class bins); a block
// belongs to the stream it was allocated for (the current stream) and, once
// freed, is cached under (stream, rounded size) and handed out again only to
// that stream, which needs no synchronisation since work on one stream runs
// in order. A block that other streams used as well (record_stream) is held
// back at release: an event is recorded on each of those streams, and the
// block returns to its stream's cache only when they have all completed
// (looked at on the next allocation), so its memory is never reused while
// another stream may still read or write it. A request that the device
// cannot meet waits for those events, empties the cache and tries once
// more; empty_cache() does the same and gives every cached block back. Raw
// allocations are plain cudaMalloc/cudaFree, never managed memory.
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
  int64_t reserved_bytes = 0;    // obtained from the device: live + cached + held back
  int64_t peak_allocated_bytes = 0;
  int64_t peak_reserved_bytes = 0;
  int64_t allocations = 0;       // allocate() calls that returned a block
  int64_t cache_hits = 0;        // ... served from the cache
  int64_t device_allocations = 0, device_frees = 0;
  int64_t oom_retries = 0;       // cache emptied to satisfy a request
  int64_t deferred_frees = 0;    // releases held back for other streams' work (record_stream)
  int64_t pending_blocks = 0;    // blocks held back now
};

// Events on the device's streams, for blocks that other streams used (the
// backend's cudaEvent functions; a fake in the tests).
struct StreamEvents {
  std::function<void*(const void* stream)> record;  // an event recorded on `stream` now
  std::function<bool(void* event)> done;            // whether the work before it has completed
  std::function<void(void* event)> wait;            // the host waits for it
  std::function<void(void* event)> free;            // the event is no longer needed
};

class CachingAllocator {
 public:
  using RawAlloc = std::function<void*(size_t)>;  // null when the device is out of memory
  using RawFree = std::function<void(void*)>;

  CachingAllocator(RawAlloc raw_alloc, RawFree raw_free, StreamEvents events = {})
      : raw_alloc_(std::move(raw_alloc)),
        raw_free_(std::move(raw_free)),
        events_(std::move(events)) {}
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
    collect_pending(false);
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
        collect_pending(true);
        release_cached();
        p = raw_alloc_(size);
      }
      if (!p) return nullptr;
      ++s_.device_allocations;
      s_.reserved_bytes += static_cast<int64_t>(size);
      s_.peak_reserved_bytes = std::max(s_.peak_reserved_bytes, s_.reserved_bytes);
    }
    live_[p] = {size, stream, {}};
    ++s_.allocations;
    s_.allocated_bytes += static_cast<int64_t>(size);
    s_.peak_allocated_bytes = std::max(s_.peak_allocated_bytes, s_.allocated_bytes);
    return p;
  }

  // The live block at `p` is used by work on `stream` too (PyTorch's
  // record_stream): its release waits for that stream's work queued by then.
  // Its own stream needs nothing.
  void record_stream(void* p, const void* stream) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end())
      throw std::logic_error(
          "CachingAllocator: record_stream of a pointer it did not allocate (or already freed)");
    Live& b = it->second;
    if (stream == b.stream || std::find(b.uses.begin(), b.uses.end(), stream) != b.uses.end())
      return;
    if (!events_.record)
      throw std::logic_error(
          "CachingAllocator: record_stream needs the device's events, and this cache has none");
    b.uses.push_back(stream);
  }

  // Back to the cache of the stream it was allocated for; held back first
  // until the work of the other streams that used it (record_stream) is done.
  void release(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) throw std::logic_error("CachingAllocator: release of a pointer it did not allocate");
    Live b = std::move(it->second);
    live_.erase(it);
    s_.allocated_bytes -= static_cast<int64_t>(b.size);
    if (b.uses.empty()) {
      free_[{b.stream, b.size}].push_back(p);
      return;
    }
    Pending held{p, b.size, b.stream, {}};
    for (const void* s : b.uses) held.events.push_back(events_.record(s));
    pending_.push_back(std::move(held));
    ++s_.deferred_frees;
    s_.pending_blocks = static_cast<int64_t>(pending_.size());
  }

  // A stream that is going away, all its work done: its cached, live and
  // held-back blocks pass to the default stream (null), so they are neither
  // stranded nor handed to a new stream that gets the same handle.
  void retire_stream(const void* stream) {
    if (!stream) return;
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = free_.begin(); it != free_.end();) {
      if (it->first.first == stream) {
        auto& to = free_[{nullptr, it->first.second}];
        to.insert(to.end(), it->second.begin(), it->second.end());
        it = free_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& kv : live_) {
      Live& b = kv.second;
      if (b.stream == stream) b.stream = nullptr;
      b.uses.erase(std::remove(b.uses.begin(), b.uses.end(), stream), b.uses.end());
      b.uses.erase(std::remove(b.uses.begin(), b.uses.end(), b.stream), b.uses.end());
    }
    for (Pending& h : pending_)
      if (h.stream == stream) h.stream = nullptr;
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    collect_pending(true);
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
    std::vector<const void*> uses;  // other streams that use the block (record_stream)
  };
  struct Pending {
    void* p;
    size_t size;
    const void* stream;
    std::vector<void*> events;  // one per stream in Live::uses, recorded at release
  };

  // Held-back blocks whose events have completed go to their stream's cache;
  // with `wait`, the host waits for every event first.
  void collect_pending(bool wait) {
    for (auto it = pending_.begin(); it != pending_.end();) {
      bool ready = true;
      for (void* e : it->events) {
        if (wait)
          events_.wait(e);
        else if (!events_.done(e)) {
          ready = false;
          break;
        }
      }
      if (!ready) {
        ++it;
        continue;
      }
      for (void* e : it->events) events_.free(e);
      free_[{it->stream, it->size}].push_back(it->p);
      it = pending_.erase(it);
    }
    s_.pending_blocks = static_cast<int64_t>(pending_.size());
  }

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
  StreamEvents events_;
  mutable std::mutex mu_;
  std::unordered_map<void*, Live> live_;
  std::map<std::pair<const void*, size_t>, std::vector<void*>> free_;
  std::vector<Pending> pending_;
  AllocatorStats s_;
};

}  // namespace cadenza::cuda
