// The CUDA emulator's host side (see cuda_emu.h): the runtime API the
// project calls and cuBLAS's GEMMs. Device memory is host memory; every
// stream runs its work at once, in call order, so events are complete when
// recorded, with one exception: a cudaMemcpyAsync from pinned host memory
// to the device is held back until the next launch, GEMM, other copy,
// memset, free or synchronisation (flush_uploads), as a device may read
// the pinned bytes after the call returns. A caller that writes them again
// before waiting for the copy (an event, a stream sync) sends the new bytes,
// and a test sees it. Kernel launches are emu.cpp's.
#include <cublas_v2.h>

#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_emu.h"
#include "emu_internal.h"

#undef warpSize  // cudaDeviceProp's field

using namespace cuemu::internal;

namespace {

struct Allocation {
  size_t bytes;
};

std::mutex g_mem_mutex;
std::map<const void*, Allocation> g_device_mem;
std::map<const void*, size_t> g_host_mem;
std::map<const void*, std::pair<size_t, size_t>> g_blocks_noted;  // bytes asked for, guarded slack
thread_local int t_device = 0;

// Uploads from pinned memory not yet done, in call order.
struct Upload {
  void* dst;
  const void* src;
  size_t n;
};
std::mutex g_upload_mutex;
std::vector<Upload> g_uploads;

bool pinned(const void* p, size_t n) {
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  auto it = g_host_mem.upper_bound(p);
  if (it == g_host_mem.begin()) return false;
  --it;
  const char* base = static_cast<const char*>(it->first);
  return static_cast<const char*>(p) >= base && static_cast<const char*>(p) + n <= base + it->second;
}

struct EmuEvent {
  std::chrono::steady_clock::time_point at;
  bool recorded = false;
};
// Streams and cuBLAS handles are tokens: work runs when it is queued, and
// the GEMMs accumulate in the operands' type whatever the math mode.
struct EmuStream {};
struct EmuHandle {};

}  // namespace

namespace cuemu {
// The guards are written from the host at once, so an upload to the block's
// last user, held back, goes first.
void note_block(void* p, size_t bytes, size_t rounded) {
  if (!p || rounded <= bytes) return;
  internal::flush_uploads();
  const size_t slack = std::min(rounded - bytes, size_t{256});
  fill_redzone(static_cast<unsigned char*>(p) + bytes, slack);
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  g_blocks_noted[p] = {bytes, slack};
}
void forget_block(void* p) {
  internal::flush_uploads();
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  auto it = g_blocks_noted.find(p);
  if (it == g_blocks_noted.end()) return;
  clear_redzone(static_cast<unsigned char*>(p) + it->second.first, it->second.second);  // the next tensor may be larger
  g_blocks_noted.erase(it);
}
namespace internal {
void flush_uploads() {
  std::vector<Upload> q;
  {
    std::lock_guard<std::mutex> lock(g_upload_mutex);
    q.swap(g_uploads);
  }
  if (q.empty()) return;
  std::lock_guard<std::mutex> lock(launch_mutex());
  for (const Upload& u : q) std::memmove(u.dst, u.src, u.n);
}
bool device_redzones_intact(std::string* which) {
  flush_uploads();
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  for (auto& kv : g_blocks_noted) {
    const auto* end = static_cast<const unsigned char*>(kv.first) + kv.second.first;
    if (!redzone_intact(end, kv.second.second)) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "%p (a cached block, %zu bytes asked for)", kv.first, kv.second.first);
      *which = buf;
      return false;
    }
  }
  for (auto& kv : g_device_mem)
    if (!redzone_intact(static_cast<const unsigned char*>(kv.first) + kv.second.bytes)) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%p (%zu bytes)", kv.first, kv.second.bytes);
      *which = buf;
      return false;
    }
  return true;
}
}  // namespace internal
}  // namespace cuemu

namespace {

int device_count() {
  const char* env = std::getenv("CADENZA_CUDA_EMU_DEVICES");
  return env ? std::atoi(env) : 1;
}

cudaError_t ret(cudaError_t e) {
  if (e != cudaSuccess) set_error(e);
  return e;
}

}  // namespace

extern "C" {

cudaError_t cudaGetLastError(void) { return last_error(true); }
cudaError_t cudaPeekAtLastError(void) { return last_error(false); }
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorLaunchFailure: return "unspecified launch failure (the emulator printed why)";
    case cudaErrorCooperativeLaunchTooLarge: return "too many blocks in cooperative launch";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNotReady: return "device not ready";
    default: return "an emulated CUDA error";
  }
}
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorCooperativeLaunchTooLarge: return "cudaErrorCooperativeLaunchTooLarge";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    default: return "cudaErrorUnknown";
  }
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = device_count();
  if (*count == 0) return ret(cudaErrorNoDevice);
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= device_count()) return ret(cudaErrorInvalidDevice);
  t_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = t_device;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) {
  flush_uploads();
  if (tracing()) trace("sync device");
  return cudaPeekAtLastError();
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device < 0 || device >= device_count()) return ret(cudaErrorInvalidDevice);
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "cadenza CUDA emulator (H100-like: %d SMs)", kSms);
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = size_t{80} << 30;
  p->multiProcessorCount = kSms;
  p->sharedMemPerBlock = kSmemDefault;
  p->sharedMemPerBlockOptin = kSmemOptin;
  p->sharedMemPerMultiprocessor = kSmemPerSm;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsPerMultiProcessor = kMaxThreadsPerSm;
  p->warpSize = 32;
  p->cooperativeLaunch = 1;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device < 0 || device >= device_count()) return ret(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = kSms; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(kSmemOptin); break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(kSmemDefault); break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = static_cast<int>(kSmemPerSm); break;
    case cudaDevAttrCooperativeLaunch: *value = 1; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    default: return ret(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (bytes == 0) {
    *p = nullptr;
    return cudaSuccess;
  }
  void* q = std::aligned_alloc(256, (bytes + kRedzone + 255) / 256 * 256);
  if (!q) return ret(cudaErrorMemoryAllocation);
  std::memset(q, 0xff, bytes);  // fresh device memory holds no zeros
  fill_redzone(static_cast<unsigned char*>(q) + bytes);
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  g_device_mem[q] = Allocation{bytes};
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  flush_uploads();
  if (!p) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  auto it = g_device_mem.find(p);
  if (it == g_device_mem.end()) {
    std::fprintf(stderr, "cuda emulator: cudaFree of %p, which cudaMalloc did not return\n", p);
    return ret(cudaErrorInvalidValue);
  }
  const bool intact = redzone_intact(static_cast<unsigned char*>(p) + it->second.bytes);
  if (!intact)
    std::fprintf(stderr, "cuda emulator: something wrote past the end of the device allocation %p before cudaFree\n", p);
  g_device_mem.erase(it);
  std::free(p);
  if (!intact) return ret(cudaErrorIllegalAddress);
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned int) {
  *p = std::aligned_alloc(4096, (std::max<size_t>(bytes, 1) + 4095) / 4096 * 4096);
  if (!*p) return ret(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  g_host_mem[*p] = bytes;
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, size_t bytes) { return cudaHostAlloc(p, bytes, 0); }
cudaError_t cudaFreeHost(void* p) {
  flush_uploads();
  if (!p) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  if (!g_host_mem.erase(p)) return ret(cudaErrorInvalidValue);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  *free_bytes = size_t{60} << 30;
  *total = size_t{80} << 30;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  flush_uploads();
  if (tracing()) {
    static const char* const kinds[] = {"HtoH", "HtoD", "DtoH", "DtoD", "default"};
    trace(std::string("memcpy ") + (kind >= 0 && kind <= 4 ? kinds[kind] : "?") + " " + std::to_string(n));
  }
  std::lock_guard<std::mutex> lock(launch_mutex());
  if (n) std::memmove(dst, src, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t) {
  if ((kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDefault) && n > 0 && pinned(src, n)) {
    if (tracing()) trace("memcpy HtoD " + std::to_string(n) + " pinned");
    std::lock_guard<std::mutex> lock(g_upload_mutex);
    g_uploads.push_back({dst, src, n});
    return cudaSuccess;
  }
  return cudaMemcpy(dst, src, n, kind);
}
cudaError_t cudaMemset(void* dst, int v, size_t n) {
  flush_uploads();
  if (tracing()) trace("memset " + std::to_string(n));
  std::lock_guard<std::mutex> lock(launch_mutex());
  if (n) std::memset(dst, v, n);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int v, size_t n, cudaStream_t) { return cudaMemset(dst, v, n); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  *s = reinterpret_cast<cudaStream_t>(new EmuStream);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete reinterpret_cast<EmuStream*>(s);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  flush_uploads();
  if (tracing()) trace("sync stream");
  return cudaPeekAtLastError();
}
cudaError_t cudaStreamQuery(cudaStream_t) {
  flush_uploads();
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned int) { return cudaSuccess; }
cudaError_t cudaLaunchHostFunc(cudaStream_t, cudaHostFn_t fn, void* data) {
  flush_uploads();
  fn(data);
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) {
  *e = reinterpret_cast<cudaEvent_t>(new EmuEvent);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, 0); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete reinterpret_cast<EmuEvent*>(e);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  auto* ev = reinterpret_cast<EmuEvent*>(e);
  ev->at = std::chrono::steady_clock::now();
  ev->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t) {
  flush_uploads();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) {
  flush_uploads();
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  auto* ea = reinterpret_cast<EmuEvent*>(a);
  auto* eb = reinterpret_cast<EmuEvent*>(b);
  if (!ea->recorded || !eb->recorded) return ret(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(eb->at - ea->at).count();
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || static_cast<size_t>(value) > kSmemOptin) return ret(cudaErrorInvalidValue);
    set_smem_optin(func, value);
  }
  return cudaSuccess;
}
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, const void*, int threads, size_t smem) {
  *n = blocks_per_sm(threads, smem);
  return cudaSuccess;
}

cudaError_t cudaLaunchCooperativeKernel(const void*, dim3, dim3, void**, size_t, cudaStream_t) {
  std::fprintf(stderr,
               "cuda emulator: cudaLaunchCooperativeKernel cannot call a kernel through void* arguments; launch "
               "through kernels/cuda/launch.h's launch_cooperative\n");
  return ret(cudaErrorNotSupported);
}

}  // extern "C"

// ---- cuBLAS: the GEMMs the kernels call, column-major as cuBLAS is ----
// On Eigen, accumulating in the operands' type as cuBLAS does (TF32 off).
namespace {
std::string gemm_shape(int m, int n, int k, int batch) {
  return std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) + " batch " + std::to_string(batch);
}

template <class T>
cublasStatus_t gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const T* alpha, const T* A,
                    int lda, const T* B, int ldb, const T* beta, T* C, int ldc) {
  if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
  const bool at = ta != CUBLAS_OP_N, bt = tb != CUBLAS_OP_N;
  if (lda < std::max(1, at ? k : m) || ldb < std::max(1, bt ? n : k) || ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  flush_uploads();
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
  using CMap = Eigen::Map<const Mat, 0, Eigen::OuterStride<>>;
  std::lock_guard<std::mutex> lock(launch_mutex());
  Eigen::Map<Mat, 0, Eigen::OuterStride<>> c(C, m, n, Eigen::OuterStride<>(ldc));
  // beta == 0 does not read C, as cuBLAS does not (it may hold NaN).
  if (*beta == T(0)) c.setZero();
  else if (*beta != T(1)) c *= *beta;
  if (k == 0 || *alpha == T(0)) return CUBLAS_STATUS_SUCCESS;
  const CMap a(A, at ? k : m, at ? m : k, Eigen::OuterStride<>(lda));
  const CMap b(B, bt ? n : k, bt ? k : n, Eigen::OuterStride<>(ldb));
  if (at && bt) c.noalias() += *alpha * (a.transpose() * b.transpose());
  else if (at) c.noalias() += *alpha * (a.transpose() * b);
  else if (bt) c.noalias() += *alpha * (a * b.transpose());
  else c.noalias() += *alpha * (a * b);
  return CUBLAS_STATUS_SUCCESS;
}
}  // namespace

extern "C" {
cublasStatus_t cublasCreate_v2(cublasHandle_t* h) {
  *h = reinterpret_cast<cublasHandle_t>(new EmuHandle);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t h) {
  delete reinterpret_cast<EmuHandle*>(h);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t, cudaStream_t) {
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) {
  return CUBLAS_STATUS_SUCCESS;
}
const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    default: return "CUBLAS_STATUS (emulated)";
  }
}
cublasStatus_t cublasSgemm_v2(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                              float* C, int ldc) {
  if (tracing()) trace("gemm " + gemm_shape(m, n, k, 1));
  return gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t cublasDgemm_v2(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const double* alpha, const double* A, int lda, const double* B, int ldb,
                              const double* beta, double* C, int ldc) {
  if (tracing()) trace("gemm " + gemm_shape(m, n, k, 1));
  return gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float* alpha, const float* A, int lda, long long sa,
                                         const float* B, int ldb, long long sb, const float* beta, float* C, int ldc,
                                         long long sc, int batch) {
  if (batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (tracing()) trace("gemm " + gemm_shape(m, n, k, batch));
  for (int i = 0; i < batch; ++i) {
    const cublasStatus_t st = gemm(ta, tb, m, n, k, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
  }
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const double* alpha, const double* A, int lda, long long sa,
                                         const double* B, int ldb, long long sb, const double* beta, double* C,
                                         int ldc, long long sc, int batch) {
  if (batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (tracing()) trace("gemm " + gemm_shape(m, n, k, batch));
  for (int i = 0; i < batch; ++i) {
    const cublasStatus_t st = gemm(ta, tb, m, n, k, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
  }
  return CUBLAS_STATUS_SUCCESS;
}
}  // extern "C"
