#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/random.h"
#include "kernels/update_math.h"

namespace cadenza::kernels::cuda {

namespace {

// Four (two) neighbouring values in 16-byte stores, for an aligned output:
// a warp's store then covers one run of memory instead of 32 pieces of it.
struct alignas(16) Four {
  float v[4];
};
struct alignas(16) Two {
  double v[2];
};
__device__ __forceinline__ void store4(float* p, const float (&v)[4]) {
  *reinterpret_cast<Four*>(p) = Four{{v[0], v[1], v[2], v[3]}};
}
__device__ __forceinline__ void store4(double* p, const double (&v)[4]) {
  reinterpret_cast<Two*>(p)[0] = Two{{v[0], v[1]}};
  reinterpret_cast<Two*>(p)[1] = Two{{v[2], v[3]}};
}
__device__ __forceinline__ void store2(float* p, float x, float y) {
  struct alignas(8) Pair {
    float v[2];
  };
  *reinterpret_cast<Pair*>(p) = Pair{{x, y}};
}
__device__ __forceinline__ void store2(double* p, double x, double y) { *reinterpret_cast<Two*>(p) = Two{{x, y}}; }

// One thread per Philox block, four values a block: out[4b + k] =
// lane(r, k). `vec`: out is 16-byte aligned, so whole blocks go out in
// vector stores.
template <class T, class Lane>
__device__ __forceinline__ void by_lanes(uint64_t seed, uint64_t counter, int64_t n, T* out, bool vec,
                                         const Lane& lane) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; b < blocks; b += int64_t{gridDim.x} * blockDim.x) {
    uint32_t r[4];
    kmath::philox_block(seed, counter + static_cast<uint64_t>(b), r);
    if (vec && b * 4 + 4 <= n) {
      const T v[4] = {lane(r, 0), lane(r, 1), lane(r, 2), lane(r, 3)};
      store4(out + b * 4, v);
      continue;
    }
    for (int k = 0; k < 4 && b * 4 + k < n; ++k) out[b * 4 + k] = lane(r, k);
  }
}

// Four uniforms a block (f32 and f64 alike, as the CPU).
template <class T>
__global__ void uniform_kernel(uint64_t seed, uint64_t counter, int64_t n, T* out, double lo, double hi, bool vec) {
  by_lanes(seed, counter, n, out, vec, [=](const uint32_t* r, int k) { return kmath::philox_uniform_lane<T>(r, k, lo, hi); });
}

// The same uniforms compared with p (philox_bernoulli_lane).
template <class T>
__global__ void bernoulli_kernel(uint64_t seed, uint64_t counter, int64_t n, T* out, double p, double value,
                                 bool vec) {
  by_lanes(seed, counter, n, out, vec,
           [=](const uint32_t* r, int k) { return kmath::philox_bernoulli_lane<T>(r, k, p, value); });
}

// `vec`: out is 16-byte aligned, so each pair goes out in one store.
template <class T>
__global__ void normal_kernel(uint64_t seed, uint64_t counter, int64_t n, T* out, double mean, double std, bool vec) {
  const int64_t blocks = (n + 1) / 2;
  for (int64_t b = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; b < blocks; b += int64_t{gridDim.x} * blockDim.x) {
    uint32_t r[4];
    kmath::philox_block(seed, counter + static_cast<uint64_t>(b), r);
    T x, y;
    kmath::philox_normal_pair(r, mean, std, &x, &y);
    if (vec && b * 2 + 2 <= n) {
      store2(out + b * 2, x, y);
      continue;
    }
    out[b * 2] = x;
    if (b * 2 + 1 < n) out[b * 2 + 1] = y;
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void philox_uniform(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double lo, double hi) {
  if (n <= 0) return;
  const int64_t blocks = (n + 3) / 4;
  if (dt == DType::f32)
    uniform_kernel<float><<<grid_for(blocks), kThreads, 0, current_stream()>>>(
        seed, counter, n, static_cast<float*>(out), lo, hi, aligned16(out));
  else
    uniform_kernel<double><<<grid_for(blocks), kThreads, 0, current_stream()>>>(
        seed, counter, n, static_cast<double*>(out), lo, hi, aligned16(out));
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void philox_bernoulli(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double p, double value) {
  if (n <= 0) return;
  const int64_t blocks = (n + 3) / 4;
  if (dt == DType::f32)
    bernoulli_kernel<float><<<grid_for(blocks), kThreads, 0, current_stream()>>>(
        seed, counter, n, static_cast<float*>(out), p, value, aligned16(out));
  else
    bernoulli_kernel<double><<<grid_for(blocks), kThreads, 0, current_stream()>>>(
        seed, counter, n, static_cast<double*>(out), p, value, aligned16(out));
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void philox_normal(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double mean, double std) {
  if (n <= 0) return;
  const int64_t blocks = (n + 1) / 2;
  if (dt == DType::f32)
    normal_kernel<float><<<grid_for(blocks), kThreads, 0, current_stream()>>>(
        seed, counter, n, static_cast<float*>(out), mean, std, aligned16(out));
  else
    normal_kernel<double><<<grid_for(blocks), kThreads, 0, current_stream()>>>(
        seed, counter, n, static_cast<double*>(out), mean, std, aligned16(out));
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cadenza::kernels::cuda
