// The CUDA emulator itself (built with -DCADENZA_CUDA=EMU, ctest label
// cuda): warp shuffles, barriers, shared memory and grid.sync() give what
// the CUDA programming guide says they give, and the faults it promises to
// report are reported as a failed launch instead of a hang or silence.
// Kernels here are plain functions in the device language of cuda_emu.h
// (this file is compiled with it forced in, but is not rewritten, so it
// launches through ::cuemu::Launch and declares shared memory directly).
#include <catch2/catch.hpp>
#include <cooperative_groups.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cuda/runtime.h"

namespace {

template <class T>
struct DeviceArray {
  T* p = nullptr;
  size_t n = 0;
  explicit DeviceArray(size_t count) : n(count) { REQUIRE(cudaMalloc(&p, n * sizeof(T)) == cudaSuccess); }
  ~DeviceArray() { cudaFree(p); }
  std::vector<T> host() const {
    std::vector<T> h(n);
    REQUIRE(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return h;
  }
};

void expect_clean() { REQUIRE(cudaGetLastError() == cudaSuccess); }

// ---- kernels ----

void shuffles(int* out) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int v = 100 * static_cast<int>(threadIdx.x / 32) + lane;
  int* o = out + threadIdx.x * 6;
  o[0] = __shfl_xor_sync(0xffffffffu, v, 5);
  o[1] = __shfl_down_sync(0xffffffffu, v, 3);
  o[2] = __shfl_up_sync(0xffffffffu, v, 2);
  o[3] = __shfl_sync(0xffffffffu, v, 7);
  o[4] = __shfl_down_sync(0xffffffffu, v, 3, 16);  // within halves of the warp
  o[5] = static_cast<int>(__ballot_sync(0xffffffffu, lane % 3 == 0));
}

void block_sum(const float* x, float* out) {
  auto& partial = ::cuemu::shared_var<float[8], __LINE__>();
  float v = x[blockIdx.x * blockDim.x + threadIdx.x];
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0;
    for (int w = 0; w < 8; ++w) s += partial[w];
    out[blockIdx.x] = s;
  }
}

void read_unwritten_shared(float* out) {
  auto& s = ::cuemu::shared_var<float[4], __LINE__>();
  out[threadIdx.x] = s[threadIdx.x % 4];
}

void neighbours_after_grid_sync(int* buf, int* out) {
  cooperative_groups::grid_group grid = cooperative_groups::this_grid();
  if (threadIdx.x == 0) buf[blockIdx.x] = static_cast<int>(blockIdx.x) * 10;
  grid.sync();
  if (threadIdx.x == 0) out[blockIdx.x] = buf[(blockIdx.x + 1) % gridDim.x];
}

void grid_sync_anyway(int*) { cooperative_groups::this_grid().sync(); }

void half_warp_at_a_barrier(int* out) {
  // Lanes 0-15 wait at a shuffle naming all 32; lanes 16-31 at
  // __syncthreads: neither can complete (a hang on a GPU).
  if (threadIdx.x % 32 < 16)
    out[threadIdx.x] = __shfl_sync(0xffffffffu, 1, 0);
  else
    __syncthreads();
}

void write_past_the_end(int* p, int n) {
  if (threadIdx.x == 0) p[n] = 1;  // one element too far
}

void use_dynamic_shared(int* out) {
  size_t bytes = 0;
  auto* s = static_cast<int*>(::cuemu::dynamic_shared(&bytes));
  s[threadIdx.x] = static_cast<int>(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = s[blockDim.x - 1 - threadIdx.x] + static_cast<int>(bytes / 1024);
}

void past_dynamic_shared(int) {
  auto* s = static_cast<int*>(::cuemu::dynamic_shared(nullptr));
  if (threadIdx.x == 0) s[256] = 1;  // launched with 256 ints
}

void spin_forever(const int* flag) {
  while (*flag == 0) __nanosleep(100);
}

}  // namespace

TEST_CASE("cuda emulator: warp shuffles and ballots follow the CUDA semantics", "[cuda_emu]") {
  DeviceArray<int> out(64 * 6);
  ::cuemu::Launch(1, 64).kernel(shuffles)(out.p);
  expect_clean();
  const std::vector<int> h = out.host();
  for (int t = 0; t < 64; ++t) {
    const int lane = t % 32, base = 100 * (t / 32);
    const int* o = &h[static_cast<size_t>(t) * 6];
    CHECK(o[0] == base + (lane ^ 5));
    CHECK(o[1] == base + (lane + 3 < 32 ? lane + 3 : lane));
    CHECK(o[2] == base + (lane >= 2 ? lane - 2 : lane));
    CHECK(o[3] == base + 7);
    CHECK(o[4] == base + ((lane % 16) + 3 < 16 ? lane + 3 : lane));
    unsigned want = 0;
    for (int i = 0; i < 32; i += 3) want |= 1u << i;
    CHECK(static_cast<unsigned>(o[5]) == want);
  }
}

TEST_CASE("cuda emulator: a block's shared memory and barrier, one block after another", "[cuda_emu]") {
  const int blocks = 5;
  std::vector<float> x(blocks * 256);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17);
  DeviceArray<float> dx(x.size()), dout(blocks);
  REQUIRE(cudaMemcpy(dx.p, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  ::cuemu::Launch(blocks, 256).kernel(block_sum)(dx.p, dout.p);
  expect_clean();
  const std::vector<float> h = dout.host();
  for (int b = 0; b < blocks; ++b) {
    float want = 0;
    for (int i = 0; i < 256; ++i) want += x[static_cast<size_t>(b) * 256 + i];
    CHECK(h[b] == want);
  }
}

TEST_CASE("cuda emulator: shared and fresh device memory start as NaN, not zero", "[cuda_emu]") {
  DeviceArray<float> out(8);
  ::cuemu::Launch(1, 8).kernel(read_unwritten_shared)(out.p);
  expect_clean();
  for (float v : out.host()) CHECK(std::isnan(v));
  DeviceArray<float> fresh(3);
  for (float v : fresh.host()) CHECK(std::isnan(v));
}

TEST_CASE("cuda emulator: grid.sync() in a cooperative launch orders every block", "[cuda_emu]") {
  const int blocks = 40;
  DeviceArray<int> buf(blocks), out(blocks);
  REQUIRE(::cuemu::launch_cooperative(neighbours_after_grid_sync, dim3(blocks), dim3(64), 0, nullptr, buf.p,
                                      out.p) == cudaSuccess);
  const std::vector<int> h = out.host();
  for (int b = 0; b < blocks; ++b) CHECK(h[b] == ((b + 1) % blocks) * 10);
}

TEST_CASE("cuda emulator: the faults it promises to report fail the launch", "[cuda_emu]") {
  SECTION("grid.sync() outside a cooperative launch") {
    DeviceArray<int> d(1);
    ::cuemu::Launch(2, 32).kernel(grid_sync_anyway)(d.p);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  }
  SECTION("a warp collective whose lanes wait elsewhere") {
    DeviceArray<int> d(64);
    ::cuemu::Launch(1, 64).kernel(half_warp_at_a_barrier)(d.p);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  }
#ifndef __SANITIZE_ADDRESS__  // under ASan these writes end the process with ASan's report instead
  SECTION("a write past the end of a device allocation") {
    DeviceArray<int> d(10);
    ::cuemu::Launch(1, 32).kernel(write_past_the_end)(d.p, 10);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
    // Mend the redzone, or every later launch and the cudaFree report it again.
    std::memset(reinterpret_cast<unsigned char*>(d.p) + 40, 0xa5, 4);
  }
  SECTION("a write past a tensor's bytes inside a block of the caching allocator") {
    void* p = cadenza::cuda::device_allocate(40, 0);  // a 512-byte block
    ::cuemu::Launch(1, 32).kernel(write_past_the_end)(static_cast<int*>(p), 10);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
    std::memset(static_cast<unsigned char*>(p) + 40, 0xa5, 4);
    ::cuemu::Launch(1, 32).kernel(write_past_the_end)(static_cast<int*>(p), 9);  // the last element: fine
    CHECK(cudaGetLastError() == cudaSuccess);
    cadenza::cuda::device_release(p, 40, 0);
  }
  SECTION("a write past the launch's dynamic shared memory") {
    ::cuemu::Launch(1, 32, 256 * sizeof(int)).kernel(past_dynamic_shared)(0);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  }
#endif
  SECTION("a spin-wait that nothing will end") {
    DeviceArray<int> flag(1);
    REQUIRE(cudaMemset(flag.p, 0, sizeof(int)) == cudaSuccess);
    ::cuemu::Launch(1, 32).kernel(spin_forever)(flag.p);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  }
  expect_clean();
}

TEST_CASE("cuda emulator: launch limits are the device's", "[cuda_emu]") {
  SECTION("over 48 KB of dynamic shared memory needs the kernel's opt-in") {
    const size_t bytes = 64 * 1024;
    DeviceArray<int> out(256);
    ::cuemu::Launch(1, 256, bytes).kernel(use_dynamic_shared)(out.p);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    REQUIRE(cudaFuncSetAttribute(use_dynamic_shared, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(bytes)) == cudaSuccess);
    ::cuemu::Launch(1, 256, bytes).kernel(use_dynamic_shared)(out.p);
    expect_clean();
    const std::vector<int> h = out.host();
    for (int t = 0; t < 256; ++t) CHECK(h[t] == 255 - t + 64);
  }
  SECTION("a cooperative grid must fit on the device at once") {
    int per_sm = 0, sms = 0;
    REQUIRE(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, grid_sync_anyway, 1024, 0) == cudaSuccess);
    REQUIRE(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) == cudaSuccess);
    CHECK(per_sm == 2);
    DeviceArray<int> d(1);
    CHECK(::cuemu::launch_cooperative(grid_sync_anyway, dim3(per_sm * sms + 1), dim3(1024), 0, nullptr, d.p) ==
          cudaErrorCooperativeLaunchTooLarge);
    cudaGetLastError();
  }
  SECTION("more than 1024 threads a block") {
    DeviceArray<int> d(1);
    ::cuemu::Launch(1, 1025).kernel(write_past_the_end)(d.p, 0);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  }
}
