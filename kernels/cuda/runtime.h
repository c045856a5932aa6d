#pragma once
// The CUDA backend's memory, copies, streams and events (runtime.cu), as
// plain functions the engine's backend table points at. Every CUDA call is
// checked (CADENZA_CUDA_CHECK: the call, file and line in the error).
//
// Streams (engine/stream.h has the user's side): every kernel, copy, memset
// and cuBLAS call is queued on this thread's current stream of the device
// (kernels/cuda/stream.h's current_stream()), which is the device's default
// (legacy) stream until a StreamGuard makes another one current. Streams
// made here are non-blocking, as PyTorch's are: they do not wait for the
// default stream, nor it for them; events order work across streams. The
// allocator caches per stream and holds back a block that another stream
// used (record_stream) until that stream's work is done. A stream or event
// is its cudaStream_t / cudaEvent_t as void*; a null stream is the default.
#include <cstddef>

#include "kernels/cuda/caching_allocator.h"

namespace cadenza::cuda {

int device_count();  // 0 without a driver or device (not an error)
// A block for work on the device's current stream; null when out of memory.
void* device_allocate(size_t bytes, int device);
void device_release(void* p, size_t bytes, int device);
// Copies on the device's current stream. copy_to_host returns when the
// copy is complete (after the stream's earlier work); from 1 MiB it goes
// through a pinned staging buffer in chunks, so the driver does not pin
// pageable pages per call. copy_from_host stages the bytes in a pinned ring
// and only queues the copy (the host buffer may be reused at once; the
// host waits only when the ring is full), as copy_within and zero are only
// queued: the stream's later work sees the data, another stream's must be
// ordered by an event.
void copy_to_host(void* host_dst, const void* src, size_t bytes, int device);
void copy_from_host(void* dst, const void* host_src, size_t bytes, int device);
void copy_within(void* dst, const void* src, size_t bytes, int device);
void zero(void* p, size_t bytes, int device);
void empty_cache();
void synchronize(int device);  // cudaDeviceSynchronize on that device: every stream
AllocatorStats allocator_stats(int device);

// ---- streams and events ----
void* stream_create(int device);  // cudaStreamNonBlocking
// Waits for the stream's work, passes its blocks to the default stream
// (CachingAllocator::retire_stream), drops its cuBLAS handle, destroys it.
void stream_destroy(void* stream, int device);
void* current_stream(int device);  // this thread's; null: the default stream
void set_current_stream(void* stream, int device);
void stream_synchronize(void* stream, int device);
bool stream_query(void* stream, int device);  // whether its work is done
void* event_create(bool timing, int device);  // cudaEventDisableTiming unless `timing`
void event_destroy(void* event, int device);
void event_record(void* event, void* stream, int device);       // `device`: the stream's
void stream_wait_event(void* stream, void* event, int device);  // `device`: the stream's
void event_synchronize(void* event, int device);
bool event_query(void* event, int device);
float event_elapsed_ms(void* start, void* end, int device);
// The block at `p` (from device_allocate) is used on `stream` as well: it is
// not handed out again until the work queued there by its release is done.
void record_stream(void* p, void* stream, int device);

}  // namespace cadenza::cuda
