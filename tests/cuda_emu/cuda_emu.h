#pragma once
// The CUDA device language on the host, for running kernels/cuda/*.cu on a
// machine without a GPU (CMake: -DCADENZA_CUDA=EMU; scripts/test.sh builds
// build-emu and runs the cuda-labelled tests there).
//
// Each .cu file is compiled as C++ with this header forced in first, after
// tests/cuda_emu/rewrite.cmake has turned `k<<<cfg>>>(args)` into
// `::cuemu::Launch(cfg).kernel(k)(args)` and `__shared__` declarations into
// per-block storage. Every CUDA thread is a fiber on the launching host
// thread; the scheduler (emu.cpp) switches fibers only at __syncthreads,
// warp collectives, grid.sync() and spin-wait loads, so a run is
// deterministic. What it checks that a plain host loop would not:
// barriers reached by only part of a block, warp collectives whose lanes do
// not all arrive, a grid.sync() outside a cooperative launch, a cooperative
// grid larger than the device holds, dynamic shared memory beyond the
// launch's size, and shared memory read before any thread wrote it (it
// starts as NaN bytes). What it cannot: data races (one fiber runs at a
// time) and timing.
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#define CADENZA_CUDA_EMU 1
#define __launch_bounds__(...)
// A __shared__ declaration the rewrite missed would be an ordinary local,
// one per thread: make it a compile error instead.
#undef __shared__
#define __shared__ __shared___left_for_the_emulator_rewrite

namespace cuemu {

struct ThreadCtx {
  uint3 tid;
  uint3 bid;
  dim3 bdim;
  dim3 gdim;
  unsigned lane;
  unsigned warp;
  unsigned linear;  // the thread's index in its block
};

namespace detail {
extern thread_local ThreadCtx* current;
}
inline const ThreadCtx& ctx() { return *detail::current; }

// Device-side primitives (emu.cpp).
void syncthreads();
// Every lane of `mask` deposits `v`; returns the 32 slots once all of them
// have. Lanes outside the mask read their own slot's stale value.
const uint64_t* warp_exchange(unsigned mask, uint64_t v);
void grid_sync();
bool in_cooperative_launch();
void yield();  // a spin-wait's turn: lets the other fibers run
void* dynamic_shared(size_t* bytes);
void* block_shared(const void* key, size_t bytes, size_t align);
[[noreturn]] void trap(const char* why);

// The caching allocator (kernels/cuda/runtime.cu) hands out blocks rounded
// up from the bytes asked for: the emulator guards the rounding slack of
// each live block too, so a kernel writing past a tensor's last byte fails
// its launch even inside the block.
void note_block(void* p, size_t bytes, size_t rounded);
void forget_block(void* p);
long long clock();

// A __shared__ variable (the rewrite's): one per block, keyed by its type
// and source line.
template <class T, int Line>
T& shared_var() {
  static const char key = 0;
  return *static_cast<T*>(block_shared(&key, sizeof(T), alignof(T)));
}

// Kernel launches: Launch(grid, block, smem, stream).kernel(k)(args...).
struct LaunchConfig {
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
};
void run_launch(const LaunchConfig& cfg, const void* kernel, void (*body)(void*), void* closure, bool cooperative);

// Runs k(args...) on every thread of the launch. As on a device, the
// kernel gets its own copies of the arguments, converted to its parameters.
template <class... P, class... A>
void launch_kernel(const LaunchConfig& cfg, void (*k)(P...), bool cooperative, A&&... args) {
  struct Closure {
    void (*k)(P...);
    std::tuple<std::decay_t<P>...> args;
  };
  Closure c{k, std::tuple<std::decay_t<P>...>(static_cast<P>(std::forward<A>(args))...)};
  run_launch(
      cfg, reinterpret_cast<const void*>(k),
      [](void* p) {
        auto* cl = static_cast<Closure*>(p);
        std::apply(cl->k, cl->args);
      },
      &c, cooperative);
}

template <class... P>
struct Bound {
  LaunchConfig cfg;
  void (*k)(P...);
  template <class... A>
  void operator()(A&&... args) const {
    launch_kernel(cfg, k, false, std::forward<A>(args)...);
  }
};

struct Launch {
  LaunchConfig cfg;
  Launch(dim3 grid, dim3 block, size_t smem = 0, cudaStream_t stream = nullptr) : cfg{grid, block, smem, stream} {}
  template <class... P>
  Bound<P...> kernel(void (*k)(P...)) const {
    return Bound<P...>{cfg, k};
  }
};

// A cooperative launch (kernels/cuda/launch.h's launch_cooperative).
template <class... P, class... A>
cudaError_t launch_cooperative(void (*k)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                               A&&... args) {
  launch_kernel(LaunchConfig{grid, block, smem, stream}, k, true, std::forward<A>(args)...);
  return cudaGetLastError();
}

template <class T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "warp shuffles move at most 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

}  // namespace cuemu

// The runtime's kernel-pointer overloads, which cuda_runtime.h declares
// only for nvcc.
template <class T>
cudaError_t cudaFuncSetAttribute(T* entry, cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(entry), attr, value);
}
template <class T>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, T* entry, int threads, size_t smem) {
  return ::cudaOccupancyMaxActiveBlocksPerMultiprocessor(n, reinterpret_cast<const void*>(entry), threads, smem);
}

#define threadIdx (::cuemu::ctx().tid)
#define blockIdx (::cuemu::ctx().bid)
#define blockDim (::cuemu::ctx().bdim)
#define gridDim (::cuemu::ctx().gdim)
#define warpSize 32

inline void __syncthreads() { ::cuemu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::cuemu::warp_exchange(mask, 0); }
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __trap() { ::cuemu::trap("__trap()"); }
inline long long clock64() { return ::cuemu::clock(); }
inline void __nanosleep(unsigned) { ::cuemu::yield(); }

template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  const uint64_t* s = ::cuemu::warp_exchange(mask, ::cuemu::to_bits(v));
  const int lane = static_cast<int>(::cuemu::ctx().lane);
  const int base = lane & ~(width - 1);
  return ::cuemu::from_bits<T>(s[base + (src & (width - 1))]);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const uint64_t* s = ::cuemu::warp_exchange(mask, ::cuemu::to_bits(v));
  const int lane = static_cast<int>(::cuemu::ctx().lane);
  const int src = lane ^ lane_mask;
  if ((src & ~(width - 1)) != (lane & ~(width - 1))) return v;
  return ::cuemu::from_bits<T>(s[src]);
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const uint64_t* s = ::cuemu::warp_exchange(mask, ::cuemu::to_bits(v));
  const int lane = static_cast<int>(::cuemu::ctx().lane);
  if ((lane & (width - 1)) + static_cast<int>(delta) >= width) return v;
  return ::cuemu::from_bits<T>(s[lane + static_cast<int>(delta)]);
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const uint64_t* s = ::cuemu::warp_exchange(mask, ::cuemu::to_bits(v));
  const int lane = static_cast<int>(::cuemu::ctx().lane);
  if ((lane & (width - 1)) < static_cast<int>(delta)) return v;
  return ::cuemu::from_bits<T>(s[lane - static_cast<int>(delta)]);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  const uint64_t* s = ::cuemu::warp_exchange(mask, pred != 0);
  unsigned r = 0;
  for (int i = 0; i < 32; ++i)
    if (((mask >> i) & 1u) && s[i]) r |= 1u << i;
  return r;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }

// Fibers run one at a time, so read-modify-writes are plain; the scheduler
// never switches inside one.
template <class T>
T atomicAdd(T* p, T v) {
  T old = *p;
  *p = old + v;
  return old;
}
template <class T>
T atomicSub(T* p, T v) {
  T old = *p;
  *p = old - v;
  return old;
}
template <class T>
T atomicExch(T* p, T v) {
  T old = *p;
  *p = v;
  return old;
}
template <class T>
T atomicCAS(T* p, T compare, T v) {
  T old = *p;
  if (old == compare) *p = v;
  return old;
}
template <class T>
T atomicMin(T* p, T v) {
  T old = *p;
  if (v < old) *p = v;
  return old;
}
template <class T>
T atomicMax(T* p, T v) {
  T old = *p;
  if (v > old) *p = v;
  return old;
}

template <class T>
T __ldcg(const T* p) {
  return *p;
}
template <class T>
T __ldg(const T* p) {
  return *p;
}
inline unsigned __float_as_uint(float f) { return ::cuemu::from_bits<unsigned>(::cuemu::to_bits(f)); }
inline float __uint_as_float(unsigned u) { return ::cuemu::from_bits<float>(::cuemu::to_bits(u)); }
inline int __float_as_int(float f) { return ::cuemu::from_bits<int>(::cuemu::to_bits(f)); }
inline float __int_as_float(int u) { return ::cuemu::from_bits<float>(::cuemu::to_bits(u)); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
using std::isinf;
using std::isnan;
