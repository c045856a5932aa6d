#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/stream.h"
#include "kernels/cuda/wavenet_generate.h"
#include "kernels/wavenet_generate_math.h"

namespace cadenza::kernels::cuda {

namespace wg = kmath::wg;

namespace {

constexpr const char* kOp = "wavenet_generate";

// Polls of a flag before a block gives up (about ten seconds of L2 round
// trips): a peer block that died, or a schedule bug, ends the launch with an
// error instead of hanging the device.
constexpr long long kSpinLimit = 1ll << 24;

// The flags, one int each, holding the step count published (s + 1):
// [0, L) residual messages, [L, 2L) skip sums, then head1 and head3 blocks.
struct Flags {
  int* base;
  int64_t L, head1;
  __device__ int* h(int64_t l) const { return base + l; }
  __device__ int* s(int64_t l) const { return base + L + l; }
  __device__ int* b(int64_t i) const { return base + 2 * L + i; }
  __device__ int* q(int64_t i) const { return base + 2 * L + head1 + i; }
};

#ifdef CADENZA_CUDA_EMU
// On the CUDA emulator (tests/cuda_emu) a poll gives the other threads
// their turn, as the device's other multiprocessors would run meanwhile.
__device__ __forceinline__ int load_acquire(const int* p) {
  ::cuemu::yield();
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
__device__ __forceinline__ void store_release(int* p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
#else
__device__ __forceinline__ int load_acquire(const int* p) {
  int v;
  asm volatile("ld.acquire.gpu.global.s32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void store_release(int* p, int v) {
  asm volatile("st.release.gpu.global.s32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
#endif

// Thread 0 waits until flags[0, count) all reach `value`; the block then
// goes on together. False (every thread) when the wait timed out or another
// block failed: `error` then holds the first failing block + 1.
__device__ bool block_wait(const int* flags, int64_t count, int value, int* error) {
  __shared__ int ok;
  if (threadIdx.x == 0) {
    ok = 1;
    for (int64_t i = 0; i < count && ok; ++i) {
      long long spins = 0;
      while (load_acquire(flags + i) < value) {
        ++spins;
        if ((spins & 1023) == 0 && (spins > kSpinLimit || load_acquire(error) != 0)) {
          atomicCAS(error, 0, static_cast<int>(blockIdx.x) + 1);
          ok = 0;
          break;
        }
      }
    }
  }
  __syncthreads();
  const bool go = ok != 0;
  __syncthreads();  // `ok` is rewritten by the next wait
  return go;
}

// After the block's writes of a message: every thread's stores are done
// (barrier), made visible device-wide, then the flag says so.
__device__ void block_publish(int* flag, int value) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    store_release(flag, value);
  }
}

// Copies words [n) from global to shared memory, 16 bytes at a time when
// both are aligned (the images are), the rest one word at a time.
template <class W>
__device__ void copy_words(W* dst, const W* src, int64_t n) {
  static_assert(sizeof(W) == 4, "images hold 32-bit words");
  int64_t i = 0;
  if ((reinterpret_cast<uintptr_t>(src) & 15) == 0) {
    const int64_t v = n / 4;
    for (int64_t k = threadIdx.x; k < v; k += blockDim.x)
      reinterpret_cast<int4*>(dst)[k] = reinterpret_cast<const int4*>(src)[k];
    i = v * 4;
  }
  for (int64_t k = i + threadIdx.x; k < n; k += blockDim.x) dst[k] = src[k];
}

// Layer 0's draw of step s for every stream: a warp per stream, the first
// maximum and the weights of the inverse CDF in parallel (the same index as
// the CPU's wg::first_max), the double sums in index order on lane 0
// (wg::draw, the CPU's).
template <class W>
__device__ void sample_streams(const wg::Ctx<W>& c, int64_t s, float* scratch) {
  const int64_t Q = c.d.Q;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  float* row = scratch + warp * 2 * Q;
  float* p = row + Q;
  const float* lg = c.l_msg(s);
  for (int64_t n = warp; n < c.d.N; n += warps) {
    for (int64_t q = lane; q < Q; q += 32) row[q] = wg::load_msg(lg + n * Q + q);
    __syncwarp();
    wg::MaxAt m = wg::first_max_part(row, Q, lane, 32);
    for (int off = 16; off > 0; off /= 2) {
      wg::MaxAt o;
      o.v = __shfl_down_sync(0xffffffffu, m.v, off);
      o.q = __shfl_down_sync(0xffffffffu, m.q, off);
      m = wg::first_max_merge(m, o);
    }
    const int best = __shfl_sync(0xffffffffu, static_cast<int>(wg::first_max_of(row, m)), 0);  // lane 0's
    int32_t id = best;
    if (c.temperature > 0) {
      const float inv = static_cast<float>(1.0 / c.temperature), top = row[best];
      for (int64_t q = lane; q < Q; q += 32) p[q] = wg::draw_weight(row[q], top, inv);
      __syncwarp();
      if (lane == 0) id = wg::draw(p, Q, c.uniforms[n * c.steps + s]);
    }
    if (lane == 0) {
      c.out[n * c.steps + s] = id;
      c.ids[n] = id;
    }
    __syncwarp();
  }
}

// One block a multiprocessor (wg::plan never asks for more), so ptxas may
// give a thread up to 255 registers: with the bare bound it held the bf16
// kernel to 80 and spilled.
template <class W>
__global__ void __launch_bounds__(256, 1) wavenet_generate_kernel(wg::Ctx<W> c, wg::Plan plan, int* flag_base,
                                                               int* error) {
  extern __shared__ __align__(16) unsigned char smem[];
  const wg::Dims& d = c.d;
  const Flags f{flag_base, d.L, plan.head1};
  const int64_t blk = blockIdx.x;
  const int tid = threadIdx.x, nth = blockDim.x;
  W* wsm = reinterpret_cast<W*>(smem);
  float* scratch = reinterpret_cast<float*>(smem + (plan.weights_in_smem ? plan.weight_bytes : 0));
  const int64_t hr = d.head_rows();

  if (blk < d.L) {
    // ---- residual layer `blk` ----
    const int64_t l = blk;
    const W* w = c.layers + l * d.layer_words();
    if (plan.weights_in_smem) {
      copy_words(wsm, w, d.layer_words());
      w = wsm;
    }
    const wg::LayerScratch sc{scratch, scratch + d.N * d.R, scratch + d.N * (d.R + d.G)};
    float* draw_scratch = sc.u + d.N * d.H();
    __syncthreads();
    wg::layer_past(c, l, c.t0, w, sc, tid, nth);
    for (int64_t s = 0; s < c.steps; ++s) {
      const int step = static_cast<int>(s + 1);
      if (l == 0) {
        if (s > 0) {
          if (!block_wait(f.q(0), plan.head3, step - 1, error)) return;
          sample_streams(c, s - 1, draw_scratch);
        }
      } else if (!block_wait(f.h(l - 1), 1, step, error)) {
        return;
      }
      __syncthreads();
      wg::layer_load(c, l, s, sc, tid, nth);
      __syncthreads();
      wg::layer_sums(c, s, w, sc, tid, nth);
      __syncthreads();
      wg::layer_gate(d, sc, tid, nth);
      __syncthreads();
      wg::layer_residual(c, l, s, w, sc, tid, nth);
      block_publish(f.h(l), step);
      if (l > 0 && !block_wait(f.s(l - 1), 1, step, error)) return;
      wg::layer_skip(c, l, s, w, sc, tid, nth);
      block_publish(f.s(l), step);
      // The next sample's past taps read only this layer's queue.
      if (s + 1 < c.steps) wg::layer_past(c, l, c.t0 + s + 1, w, sc, tid, nth);
    }
    if (l == 0) {
      if (!block_wait(f.q(0), plan.head3, static_cast<int>(c.steps), error)) return;
      sample_streams(c, c.steps - 1, draw_scratch);
    }
  } else {
    // ---- a slice of a head 1x1: last_conv_layers.1 (head1 blocks) or .3
    // (head3 blocks, the logits) ----
    const bool first = blk < d.L + plan.head1;
    const int64_t i = first ? blk - d.L : blk - d.L - plan.head1;
    const int64_t nb = first ? plan.head1 : plan.head3, cols = first ? d.S : d.Q;
    const int64_t c0 = wg::share_begin(cols, i, nb), c1 = wg::share_begin(cols, i + 1, nb);
    const W* full = first ? c.last1 : c.last3;
    const W* w = full + c0;
    int64_t ld = cols;
    if (plan.weights_in_smem) {
      const int64_t C = c1 - c0;
      for (int64_t k = tid; k < hr * C; k += nth) wsm[k] = full[(k / C) * cols + c0 + k % C];
      w = wsm;
      ld = C;
    }
    __syncthreads();
    for (int64_t s = 0; s < c.steps; ++s) {
      const int step = static_cast<int>(s + 1);
      // head1 waits for the last layer's skip sum, head3 for every head1 block.
      if (!(first ? block_wait(f.s(d.L - 1), 1, step, error) : block_wait(f.b(0), plan.head1, step, error)))
        return;
      if (first)
        wg::head_load_skip(c, s, scratch, tid, nth);
      else
        wg::head_load_b(c, s, scratch, tid, nth);
      __syncthreads();
      if (first)
        wg::head_last1(c, s, scratch, c0, c1, w, ld, tid, nth);
      else
        wg::head_last3(c, s, scratch, c0, c1, w, ld, tid, nth);
      block_publish(first ? f.b(i) : f.q(i), step);
    }
  }
}

}  // namespace

struct WaveNetGenDevice::Impl {
  int device = 0;
  wg::Dims d;
  wg::Plan plan;
  int64_t t = 0;
  DeviceBuffer layers, bias, gate_bias, dilation, ring_at, ring, table, last1, last1_b, last3, last3_b;
  DeviceBuffer msg_h, msg_s, head_b, logits, ids, flags, error;
  DeviceBuffer cond, uniforms, out, logits_out;  // per run

  template <class W>
  void launch(int64_t steps, const float* cond_d, double temperature, bool keep_logits,
              cudaStream_t stream) {
    wg::Ctx<W> c;
    c.d = d;
    c.layers = layers.as<const W>();
    c.bias = bias.as<const float>();
    c.gate_bias = gate_bias.bytes ? gate_bias.as<const float>() : nullptr;
    c.dilation = dilation.as<const int64_t>();
    c.ring_at = ring_at.as<const int64_t>();
    c.ring = ring.as<float>();
    c.table = table.as<const float>();
    c.last1 = last1.as<const W>();
    c.last1_b = last1_b.as<const float>();
    c.last3 = last3.as<const W>();
    c.last3_b = last3_b.as<const float>();
    c.msg_h = msg_h.as<float>();
    c.msg_s = msg_s.as<float>();
    c.head_b = head_b.as<float>();
    c.logits = logits.as<float>();
    c.ids = ids.as<int32_t>();
    c.cond = cond_d;
    c.uniforms = uniforms.as<const double>();
    c.out = out.as<int32_t>();
    c.logits_out = keep_logits ? logits_out.as<float>() : nullptr;
    c.t0 = t;
    c.steps = steps;
    c.temperature = temperature;
    c.half = static_cast<float>(std::sqrt(0.5));
    c.scale = static_cast<float>(std::sqrt(1.0 / static_cast<double>(d.L)));
    auto kernel = wavenet_generate_kernel<W>;
    CADENZA_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(plan.smem_bytes)));
    int per_sm = 0;
    CADENZA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, static_cast<int>(plan.threads),
                                                                     static_cast<size_t>(plan.smem_bytes)));
    int sms = 0;
    CADENZA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    if (static_cast<int64_t>(per_sm) * sms < plan.blocks)
      throw std::runtime_error("wavenet generation (cuda:" + std::to_string(device) + "): " +
                               std::to_string(plan.blocks) + " blocks of " + std::to_string(plan.smem_bytes) +
                               " bytes cannot all be resident (" + std::to_string(per_sm) + " per SM x " +
                               std::to_string(sms) + " SMs)");
    int* flag_base = flags.as<int>();
    int* err = error.as<int>();
    CADENZA_CUDA_CHECK(launch_cooperative(kernel, dim3(static_cast<unsigned>(plan.blocks)),
                                          dim3(static_cast<unsigned>(plan.threads)),
                                          static_cast<size_t>(plan.smem_bytes), stream, c, plan, flag_base, err));
    CADENZA_CUDA_CHECK(cudaGetLastError());
  }
};

WaveNetGenDevice::WaveNetGenDevice(const WaveNetGenWeights& w, int64_t streams, WaveNetGenPrecision precision,
                                   int device)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.device = device;
  DeviceGuard guard(device);
  // The uploads go on the current stream (a synchronous cudaMemcpy from
  // pageable memory may return before its transfer is done, and would not
  // be ordered with a non-blocking stream); waited for at the end.
  const cudaStream_t stream = current_stream();
  WaveNetGenImages im = wavenet_generate_images(w, streams, precision);
  m.d = im.dims;
  int sms = 0, optin = 0;
  CADENZA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  CADENZA_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  int coop = 0;
  CADENZA_CUDA_CHECK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, device));
  if (!coop)
    throw std::runtime_error("wavenet generation: cuda:" + std::to_string(device) +
                             " does not support cooperative launches");
  // A little below the opt-in limit: the kernel's static shared memory (the
  // waits' flag) counts against it too.
  m.plan = wg::plan(m.d, sms, optin - 256);
  if (!m.plan.fits)
    throw std::runtime_error("wavenet generation: " + std::to_string(m.d.L) + " layers and " +
                             std::to_string(streams) + " streams do not fit cuda:" + std::to_string(device) + " (" +
                             std::to_string(sms) + " SMs, " + std::to_string(optin) +
                             " bytes of shared memory per block)");
  if (m.d.bf16) {
    m.layers.upload(im.layers_h, stream, kOp);
    m.last1.upload(im.last1_h, stream, kOp);
    m.last3.upload(im.last3_h, stream, kOp);
  } else {
    m.layers.upload(im.layers_f32, stream, kOp);
    m.last1.upload(im.last1_f32, stream, kOp);
    m.last3.upload(im.last3_f32, stream, kOp);
  }
  m.bias.upload(im.bias, stream, kOp);
  if (!im.gate_bias.empty()) m.gate_bias.upload(im.gate_bias, stream, kOp);
  m.dilation.upload(im.dilation, stream, kOp);
  m.ring_at.upload(im.ring_at, stream, kOp);
  m.ring.resize(static_cast<size_t>(im.ring_floats) * sizeof(float), kOp);
  m.ring.zero(stream);  // silence before the first sample
  m.table.upload(im.table, stream, kOp);
  m.last1_b.upload(im.last1_b, stream, kOp);
  m.last3_b.upload(im.last3_b, stream, kOp);
  const wg::Dims& d = m.d;
  m.msg_h.resize(static_cast<size_t>(d.L * 2 * d.N * d.R) * sizeof(float), kOp);
  m.msg_s.resize(static_cast<size_t>(d.L * 2 * d.N * d.S) * sizeof(float), kOp);
  m.head_b.resize(static_cast<size_t>(2 * d.N * d.S) * sizeof(float), kOp);
  m.logits.resize(static_cast<size_t>(2 * d.N * d.Q) * sizeof(float), kOp);
  m.ids.resize(static_cast<size_t>(d.N) * sizeof(int32_t), kOp);
  m.flags.resize(static_cast<size_t>(2 * d.L + m.plan.head1 + m.plan.head3) * sizeof(int), kOp);
  m.error.resize(sizeof(int), kOp);
  CADENZA_CUDA_CHECK(cudaStreamSynchronize(stream));
}

WaveNetGenDevice::~WaveNetGenDevice() = default;

int64_t WaveNetGenDevice::streams() const { return impl_->d.N; }
int64_t WaveNetGenDevice::steps() const { return impl_->t; }
const kmath::wg::Plan& WaveNetGenDevice::plan() const { return impl_->plan; }

void WaveNetGenDevice::run(int64_t steps, const int32_t* ids, const float* cond, const double* uniforms,
                           double temperature, int32_t* out, float* logits) {
  Impl& m = *impl_;
  const wg::Dims& d = m.d;
  if (steps < 1) return;
  if ((cond != nullptr) != (d.cin > 0))
    throw std::invalid_argument(d.cin > 0 ? "wavenet generation: this model needs conditioning for every step"
                                          : "wavenet generation: this model takes no conditioning");
  if (steps >= (int64_t{1} << 31) - 1)
    throw std::invalid_argument("wavenet generation: " + std::to_string(steps) + " steps in one run is too many");
  for (int64_t n = 0; n < d.N; ++n)
    if (ids[n] < 0 || ids[n] >= d.Q)
      throw std::out_of_range("wavenet generation: input id " + std::to_string(ids[n]) + " of stream " +
                              std::to_string(n) + " is outside the " + std::to_string(d.Q) + " classes");
  DeviceGuard guard(m.device);
  // Everything on the current stream; the caller's buffers are read and
  // written before this returns (the stream is waited for, not the device).
  const cudaStream_t stream = current_stream();
  const size_t NS = static_cast<size_t>(d.N * steps);
  CADENZA_CUDA_CHECK(
      cudaMemcpyAsync(m.ids.p, ids, d.N * sizeof(int32_t), cudaMemcpyHostToDevice, stream));
  m.uniforms.resize(NS * sizeof(double), kOp);
  CADENZA_CUDA_CHECK(
      cudaMemcpyAsync(m.uniforms.p, uniforms, NS * sizeof(double), cudaMemcpyHostToDevice, stream));
  m.out.resize(NS * sizeof(int32_t), kOp);
  if (cond) {
    m.cond.resize(NS * d.cin * sizeof(float), kOp);
    CADENZA_CUDA_CHECK(cudaMemcpyAsync(m.cond.p, cond, NS * d.cin * sizeof(float),
                                       cudaMemcpyHostToDevice, stream));
  }
  if (logits) m.logits_out.resize(NS * d.Q * sizeof(float), kOp);
  m.flags.zero(stream);
  m.error.zero(stream);
  const float* cond_d = cond ? m.cond.as<const float>() : nullptr;
  if (d.bf16)
    m.launch<uint32_t>(steps, cond_d, temperature, logits != nullptr, stream);
  else
    m.launch<float>(steps, cond_d, temperature, logits != nullptr, stream);
  int err = 0;
  CADENZA_CUDA_CHECK(cudaMemcpyAsync(&err, m.error.p, sizeof(int), cudaMemcpyDeviceToHost, stream));
  CADENZA_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (err != 0)
    throw std::runtime_error("wavenet generation kernel: block " + std::to_string(err - 1) +
                             " timed out waiting for another block (of " + std::to_string(m.plan.blocks) + ")");
  CADENZA_CUDA_CHECK(
      cudaMemcpyAsync(out, m.out.p, NS * sizeof(int32_t), cudaMemcpyDeviceToHost, stream));
  if (logits)
    CADENZA_CUDA_CHECK(cudaMemcpyAsync(logits, m.logits_out.p, NS * d.Q * sizeof(float),
                                       cudaMemcpyDeviceToHost, stream));
  CADENZA_CUDA_CHECK(cudaStreamSynchronize(stream));
  m.t += steps;
}

}  // namespace cadenza::kernels::cuda
