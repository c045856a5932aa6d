#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/cuda/cublas.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/runtime.h"

namespace cadenza::cuda {

namespace {

constexpr size_t kStageBytes = size_t{8} << 20;
constexpr size_t kStageFrom = size_t{1} << 20;
constexpr int kMaxDevices = 64;

void check_index(int device) {
  if (device < 0 || device >= kMaxDevices)
    throw std::runtime_error("CUDA: device index " + std::to_string(device) + " is out of range");
}

// Makes `device` current for its scope and restores the previous one, so
// that making or waiting for a stream or event of one device leaves the
// thread's device alone.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    CADENZA_CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != device) CADENZA_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceScope() {
    int now = prev_;
    if (cudaGetDevice(&now) == cudaSuccess && now != prev_) cudaSetDevice(prev_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int prev_ = 0;
};

// This thread's current stream per device (null: the default stream).
thread_local void* tls_current[kMaxDevices] = {};

cudaStream_t stream_of(int device) {
  return static_cast<cudaStream_t>(tls_current[device]);
}

// Timing-free events for the allocator's held-back blocks, reused: one is
// recorded at every release of a block that another stream used.
class EventPool {
 public:
  explicit EventPool(int device) : device_(device) {}
  cudaEvent_t get() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        cudaEvent_t e = free_.back();
        free_.pop_back();
        return e;
      }
    }
    DeviceScope scope(device_);
    cudaEvent_t e = nullptr;
    CADENZA_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    return e;
  }
  void put(cudaEvent_t e) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(e);
  }

 private:
  int device_;
  std::mutex mu_;
  std::vector<cudaEvent_t> free_;
};

bool ready(cudaError_t err) {
  if (err == cudaErrorNotReady) {
    cudaGetLastError();  // not an error: clear it, as cudaStreamQuery's callers must
    return false;
  }
  CADENZA_CUDA_CHECK(err);
  return true;
}

// One allocator per device, made on first use.
CachingAllocator& allocator(int device) {
  static std::mutex mu;
  static std::vector<std::unique_ptr<CachingAllocator>> per_device;
  std::lock_guard<std::mutex> lock(mu);
  if (device < 0) throw std::runtime_error("CUDA: negative device index");
  if (per_device.size() <= static_cast<size_t>(device)) per_device.resize(static_cast<size_t>(device) + 1);
  auto& a = per_device[static_cast<size_t>(device)];
  if (!a) {
    auto pool = std::make_shared<EventPool>(device);
    StreamEvents events;
    events.record = [device, pool](const void* stream) -> void* {
      cudaEvent_t e = pool->get();
      DeviceScope scope(device);
      CADENZA_CUDA_CHECK(cudaEventRecord(e, static_cast<cudaStream_t>(const_cast<void*>(stream))));
      return e;
    };
    events.done = [](void* e) { return ready(cudaEventQuery(static_cast<cudaEvent_t>(e))); };
    events.wait = [](void* e) {
      CADENZA_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(e)));
    };
    events.free = [pool](void* e) { pool->put(static_cast<cudaEvent_t>(e)); };
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
        },
        std::move(events));
  }
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

// Uploads through a pinned ring, one per device: each copy is staged into
// the ring, queued on the stream, and an event recorded behind it, so the
// host goes on at once (its buffer may be freed: the ring holds the bytes).
// The host waits only to reuse ring space whose upload is still in flight,
// the oldest first. A copy larger than half the ring goes in chunks of
// half, so a large upload streams through it.
class UploadRing {
 public:
  static constexpr size_t kBytes = size_t{8} << 20;
  static constexpr size_t kAlign = 256;
  static constexpr size_t kMaxInFlight = 1024;

  void upload(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!buf_) CADENZA_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&buf_), kBytes, cudaHostAllocPortable));
    for (size_t done = 0; done < bytes;) {
      const size_t n = std::min(bytes - done, kBytes / 2);
      const size_t at = reserve(n);
      std::memcpy(buf_ + at, static_cast<const char*>(src) + done, n);
      CADENZA_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + done, buf_ + at, n, cudaMemcpyHostToDevice, stream));
      cudaEvent_t e = take_event();
      CADENZA_CUDA_CHECK(cudaEventRecord(e, stream));
      flight_.push_back({at, n, e});
      head_ = at + (n + kAlign - 1) / kAlign * kAlign;
      done += n;
    }
  }

 private:
  struct Upload {
    size_t at, n;
    cudaEvent_t done;
  };

  // Where n bytes go: after the last upload, or at the start when they do
  // not fit before the end; first waiting for the uploads in the way.
  size_t reserve(size_t n) {
    const size_t at = head_ + n <= kBytes ? head_ : 0;
    auto in_the_way = [&] {
      if (flight_.size() >= kMaxInFlight) return true;
      for (const Upload& u : flight_)
        if (u.at < at + n && at < u.at + u.n) return true;
      return false;
    };
    while (!flight_.empty() && in_the_way()) {
      CADENZA_CUDA_CHECK(cudaEventSynchronize(flight_.front().done));
      events_.push_back(flight_.front().done);
      flight_.pop_front();
    }
    return at;
  }

  cudaEvent_t take_event() {
    if (events_.empty()) {
      cudaEvent_t e;
      CADENZA_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
      return e;
    }
    cudaEvent_t e = events_.back();
    events_.pop_back();
    return e;
  }

  std::mutex mu_;
  char* buf_ = nullptr;
  size_t head_ = 0;
  std::deque<Upload> flight_;       // oldest first
  std::vector<cudaEvent_t> events_;  // done with, for reuse
};

UploadRing& upload_ring(int device) {
  static UploadRing* rings = new UploadRing[kMaxDevices];  // never destroyed: the driver may be gone at exit
  return rings[device];
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

void* device_allocate(size_t bytes, int device) {
  check_index(device);
  void* p = allocator(device).allocate(bytes, tls_current[device]);
#ifdef CADENZA_CUDA_EMU
  ::cuemu::note_block(p, bytes, CachingAllocator::round(bytes));  // guards the rounding slack
#endif
  return p;
}

void device_release(void* p, size_t, int device) {
#ifdef CADENZA_CUDA_EMU
  ::cuemu::forget_block(p);
#endif
  allocator(device).release(p);
}

// A host copy of `bytes`: directly when small, else chunk by chunk through
// the pinned buffer, `step(offset, n, buffer)` moving each chunk.
template <class Step>
void staged(size_t bytes, const Step& step) {
  Stage& s = stage();
  std::lock_guard<std::mutex> lock(s.mu);
  void* buf = s.get();
  for (size_t done = 0; done < bytes; done += kStageBytes) step(done, std::min(kStageBytes, bytes - done), buf);
}

// Each chunk waits for the stream before the host touches the staging
// buffer again: the copy out of it, or the next chunk into it.
void copy_to_host(void* host_dst, const void* src, size_t bytes, int device) {
  check_index(device);
  CADENZA_CUDA_CHECK(cudaSetDevice(device));
  const cudaStream_t s = stream_of(device);
  if (bytes < kStageFrom) {
    CADENZA_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, s));
    CADENZA_CUDA_CHECK(cudaStreamSynchronize(s));
    return;
  }
  staged(bytes, [&](size_t done, size_t n, void* buf) {
    CADENZA_CUDA_CHECK(
        cudaMemcpyAsync(buf, static_cast<const char*>(src) + done, n, cudaMemcpyDeviceToHost, s));
    CADENZA_CUDA_CHECK(cudaStreamSynchronize(s));
    std::memcpy(static_cast<char*>(host_dst) + done, buf, n);
  });
}

void copy_from_host(void* dst, const void* host_src, size_t bytes, int device) {
  check_index(device);
  CADENZA_CUDA_CHECK(cudaSetDevice(device));
  upload_ring(device).upload(dst, host_src, bytes, stream_of(device));
}

void copy_within(void* dst, const void* src, size_t bytes, int device) {
  check_index(device);
  CADENZA_CUDA_CHECK(cudaSetDevice(device));
  CADENZA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_of(device)));
}

void zero(void* p, size_t bytes, int device) {
  check_index(device);
  CADENZA_CUDA_CHECK(cudaSetDevice(device));
  CADENZA_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_of(device)));
}

void synchronize(int device) {
  CADENZA_CUDA_CHECK(cudaSetDevice(device));
  CADENZA_CUDA_CHECK(cudaDeviceSynchronize());
}

void empty_cache() {
  for (int d = 0; d < device_count(); ++d) allocator(d).empty_cache();
}

AllocatorStats allocator_stats(int device) { return allocator(device).stats(); }

// ---- streams and events ----

void* stream_create(int device) {
  check_index(device);
  DeviceScope scope(device);
  cudaStream_t s = nullptr;
  CADENZA_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return s;
}

void stream_destroy(void* stream, int device) {
  if (!stream) return;  // the default stream is never destroyed
  check_index(device);
  DeviceScope scope(device);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  CADENZA_CUDA_CHECK(cudaStreamSynchronize(s));
  allocator(device).retire_stream(stream);
  kernels::cuda::release_cublas_handle(s, device);
  CADENZA_CUDA_CHECK(cudaStreamDestroy(s));
}

void* current_stream(int device) {
  check_index(device);
  return tls_current[device];
}

void set_current_stream(void* stream, int device) {
  check_index(device);
  tls_current[device] = stream;
}

void stream_synchronize(void* stream, int device) {
  DeviceScope scope(device);
  CADENZA_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
}

bool stream_query(void* stream, int device) {
  DeviceScope scope(device);
  return ready(cudaStreamQuery(static_cast<cudaStream_t>(stream)));
}

void* event_create(bool timing, int device) {
  DeviceScope scope(device);
  cudaEvent_t e = nullptr;
  CADENZA_CUDA_CHECK(
      cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming));
  return e;
}

void event_destroy(void* event, int device) {
  DeviceScope scope(device);
  CADENZA_CUDA_CHECK(cudaEventDestroy(static_cast<cudaEvent_t>(event)));
}

void event_record(void* event, void* stream, int device) {
  DeviceScope scope(device);
  CADENZA_CUDA_CHECK(
      cudaEventRecord(static_cast<cudaEvent_t>(event), static_cast<cudaStream_t>(stream)));
}

void stream_wait_event(void* stream, void* event, int device) {
  DeviceScope scope(device);
  CADENZA_CUDA_CHECK(
      cudaStreamWaitEvent(static_cast<cudaStream_t>(stream), static_cast<cudaEvent_t>(event), 0));
}

void event_synchronize(void* event, int device) {
  DeviceScope scope(device);
  CADENZA_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event)));
}

bool event_query(void* event, int device) {
  DeviceScope scope(device);
  return ready(cudaEventQuery(static_cast<cudaEvent_t>(event)));
}

float event_elapsed_ms(void* start, void* end, int device) {
  DeviceScope scope(device);
  float ms = 0;
  CADENZA_CUDA_CHECK(
      cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(end)));
  return ms;
}

void record_stream(void* p, void* stream, int device) {
  allocator(device).record_stream(p, stream);
}

}  // namespace cadenza::cuda
