#pragma once
// The CUDA backend's memory and copies (runtime.cu), as plain functions the
// engine's backend table points at. Every CUDA call is checked
// (CADENZA_CUDA_CHECK: the call, file and line in the error). Work runs on
// each device's default stream; the allocator caches per stream.
#include <cstddef>

#include "kernels/cuda/caching_allocator.h"

namespace cadenza::cuda {

int device_count();  // 0 without a driver or device (not an error)
void* device_allocate(size_t bytes, int device);  // null when out of memory
void device_release(void* p, size_t bytes, int device);
// Copies; those from or to the host of 1 MiB and more go through a pinned
// staging buffer in chunks, so the driver does not pin pageable pages per
// call. They return when the copy is complete.
void copy_to_host(void* host_dst, const void* src, size_t bytes, int device);
void copy_from_host(void* dst, const void* host_src, size_t bytes, int device);
void copy_within(void* dst, const void* src, size_t bytes, int device);
void zero(void* p, size_t bytes, int device);
void empty_cache();
void synchronize(int device);  // cudaDeviceSynchronize on that device
AllocatorStats allocator_stats(int device);

}  // namespace cadenza::cuda
