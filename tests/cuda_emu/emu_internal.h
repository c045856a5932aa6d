#pragma once
// What the CUDA emulator's two halves share: emu.cpp (fibers, the
// scheduler, launches) and emu_runtime.cpp (the runtime API, device memory,
// cuBLAS's GEMMs).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CUEMU_ASAN 1
#endif

namespace cuemu::internal {

// The emulated device: an H100-like part, so the plans of the persistent
// kernels (blocks per SM, shared memory) come out as on the real one.
inline constexpr int kSms = 132;
inline constexpr size_t kSmemPerSm = 228 * 1024;
inline constexpr size_t kSmemOptin = 227 * 1024;
inline constexpr size_t kSmemDefault = 48 * 1024;
inline constexpr int kMaxThreadsPerSm = 2048;
inline constexpr int kMaxBlocksPerSm = 32;
inline constexpr size_t kRedzone = 64;  // after each buffer: a write past its end shows
inline constexpr unsigned char kRedzoneByte = 0xa5;

// Under AddressSanitizer a redzone is poisoned instead, and ASan reports
// the first read or write into it, with the kernel's line.
inline void fill_redzone(unsigned char* end, size_t n = kRedzone) {
#ifdef CUEMU_ASAN
  ASAN_POISON_MEMORY_REGION(end, n);
#else
  std::memset(end, kRedzoneByte, n);
#endif
}
inline void clear_redzone(unsigned char* end, size_t n) {
#ifdef CUEMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(end, n);
#else
  (void)end;
  (void)n;
#endif
}
inline bool redzone_intact(const unsigned char* end, size_t n = kRedzone) {
#ifdef CUEMU_ASAN
  (void)end;
  (void)n;
  return true;
#else
  for (size_t i = 0; i < n; ++i)
    if (end[i] != kRedzoneByte) return false;
  return true;
#endif
}

// One launch, copy, memset or GEMM at a time: device memory is host memory.
std::mutex& launch_mutex();
// Records the first error since the last cudaGetLastError; last_error
// reads it, and clears it when asked.
void set_error(cudaError_t e);
cudaError_t last_error(bool clear);
// A kernel's dynamic shared memory limit: 48 KB, or what it opted in to.
void set_smem_optin(const void* kernel, int bytes);
size_t smem_limit(const void* kernel);
int blocks_per_sm(int threads, size_t smem);
// With CADENZA_CUDA_EMU_TRACE=path, one line per launch, GEMM, copy,
// memset and synchronisation goes to that file ("launch NAME grid block",
// "gemm m n k batch", "memcpy KIND bytes", ...): what a GPU would be asked
// to do, in order, for counting launches (scripts/emu_launch_report.py).
bool tracing();
void trace(const std::string& line);
// Does the uploads from pinned memory held back so far (emu_runtime.cpp).
void flush_uploads();
// Whether every device allocation's and cached block's redzone holds;
// names the first that does not (emu_runtime.cpp).
bool device_redzones_intact(std::string* which);

}  // namespace cuemu::internal
