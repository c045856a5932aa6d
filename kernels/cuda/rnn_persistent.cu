// Persistent LSTM and GRU recurrences for small batches (rnn_persistent.h).
// At B <= 8 a step's recurrent GEMM is a few microseconds of arithmetic, so
// the cuBLAS path spends most of each step launching a GEMM and a cell kernel
// and re-reading W_hh from L2. Here one cooperative launch runs every step:
// each block keeps its units' slice of W_hh in shared memory for the whole
// sequence, and the blocks meet at one grid.sync() per step. The plan, the
// unit partition, the order of the sums and the cell steps are
// kernels/rnn_math.h's, which the CPU tests run block by block.
#include <cooperative_groups.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/rnn_persistent.h"
#include "kernels/cuda/stream.h"
#include "kernels/rnn_math.h"

namespace cadenza::kernels::cuda {

namespace {

namespace cg = cooperative_groups;
using kmath::kRecurrentMaxBatch;
using kmath::kRecurrentThreads;
using kmath::RecurrentPass;
using kmath::RecurrentPlan;

// ---- device side ----

// Lane 0 gets the 32 lanes' sum in kmath::tree_sum32's order.
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

// The block's slice of W_hh [gates * H, H] into shared memory, once per launch.
template <class T>
__device__ void stage_weights(const RecurrentPlan& p, RecurrentPass pass, int64_t j0, int jn,
                              const T* w_hh, T* w) {
  const int64_t n = int64_t{p.tasks} * p.K;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    int64_t src, dst;
    const bool mine = pass == RecurrentPass::forward
                          ? kmath::recurrent_forward_weight(p, j0, jn, i, src, dst)
                          : kmath::recurrent_backward_weight(p, j0, jn, i, src, dst);
    if (mine) w[dst] = w_hh[src];
  }
}

// x [B][K] = src [B][K], which every block wrote before the last grid.sync:
// read through L2 (__ldcg), since L1 is not coherent between multiprocessors.
template <class T>
__device__ void stage_operand(const RecurrentPlan& p, const T* src, T* x) {
  const int64_t n = p.B * p.K;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) x[i] = __ldcg(src + i);
}

// Every live (task, slice) of the block: one warp each, its sums per batch
// row into part.
template <class T>
__device__ void dot_phase(const RecurrentPlan& p, int jn, const T* w, const T* x, T* part) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  for (int i = warp; i < p.tasks * p.split; i += warps) {
    int task, s;
    kmath::recurrent_work_item(p, i, task, s);
    if (kmath::recurrent_task_unit(p, task) >= jn) continue;
    int64_t k0, k1;
    kmath::recurrent_slice(p, s, k0, k1);
    T acc[kRecurrentMaxBatch];
    kmath::recurrent_lane_dot(w + task * p.K, x, p.K, p.B, k0, k1, lane, acc);
#pragma unroll
    for (int b = 0; b < kRecurrentMaxBatch; ++b)
      if (b < p.B) {
        const T v = warp_sum(acc[b]);
        if (lane == 0) part[kmath::recurrent_part_index(p, s, task, b)] = v;
      }
  }
}

struct Smem {
  template <class T>
  __device__ static T* base() {
    extern __shared__ __align__(16) unsigned char recurrent_smem[];
    return reinterpret_cast<T*>(recurrent_smem);
  }
};

template <class T>
struct LstmForwardArgs {
  RecurrentPlan p;
  int64_t Tn;
  T* act;
  const T *w_hh, *h0, *c0;
  T *h_out, *cells;
};

template <class T>
__global__ void __launch_bounds__(kRecurrentThreads, 1)
    lstm_persistent_forward_kernel(const LstmForwardArgs<T> a) {
  const RecurrentPlan& p = a.p;
  T* sm = Smem::base<T>();
  T *w = sm + p.w_off, *x = sm + p.x_off, *part = sm + p.part_off, *carry = sm + p.carry_off;
  int64_t j0;
  int jn;
  kmath::recurrent_block_units(p, blockIdx.x, j0, jn);
  stage_weights(p, RecurrentPass::forward, j0, jn, a.w_hh, w);
  const int64_t H = p.H, BH = p.B * H, BG = 4 * BH;
  for (int i = threadIdx.x; i < p.B * jn; i += blockDim.x)
    carry[kmath::recurrent_carry_index(p, i / jn, i % jn)] = a.c0[i / jn * H + j0 + i % jn];
  cg::grid_group grid = cg::this_grid();
  for (int64_t t = 0; t < a.Tn; ++t) {
    stage_operand(p, t == 0 ? a.h0 : a.h_out + (t - 1) * BH, x);
    __syncthreads();
    dot_phase(p, jn, w, x, part);
    __syncthreads();
    for (int i = threadIdx.x; i < p.B * jn; i += blockDim.x) {
      const int b = i / jn, u = i % jn;
      const int64_t j = j0 + u, o = t * BH + b * H + j;
      T& c = carry[kmath::recurrent_carry_index(p, b, u)];
      T h;
      kmath::lstm_persistent_cell_forward(p, part, u, j, b, a.act + t * BG + b * 4 * H, c, h);
      a.cells[o] = c;
      a.h_out[o] = h;
    }
    if (t + 1 < a.Tn) grid.sync();  // h_t complete before any block stages it
  }
}

template <class T>
struct LstmBackwardArgs {
  RecurrentPlan p;
  int64_t Tn;
  const T *act, *w_hh, *c0, *cells, *dh_out;
  T *dc, *dh0, *dgates;
};

template <class T>
__global__ void __launch_bounds__(kRecurrentThreads, 1)
    lstm_persistent_backward_kernel(const LstmBackwardArgs<T> a) {
  const RecurrentPlan& p = a.p;
  T* sm = Smem::base<T>();
  T *w = sm + p.w_off, *x = sm + p.x_off, *part = sm + p.part_off, *carry = sm + p.carry_off;
  int64_t j0;
  int jn;
  kmath::recurrent_block_units(p, blockIdx.x, j0, jn);
  stage_weights(p, RecurrentPass::backward, j0, jn, a.w_hh, w);
  const int64_t H = p.H, BH = p.B * H, BG = 4 * BH;
  for (int i = threadIdx.x; i < p.B * jn; i += blockDim.x)
    carry[kmath::recurrent_carry_index(p, i / jn, i % jn)] = a.dc[i / jn * H + j0 + i % jn];
  cg::grid_group grid = cg::this_grid();
  for (int64_t t = a.Tn - 1; t >= 0; --t) {
    const bool later = t + 1 < a.Tn;  // dgates_{t+1} W_hh feeds dh_t
    if (later) {
      stage_operand(p, a.dgates + (t + 1) * BG, x);
      __syncthreads();
      dot_phase(p, jn, w, x, part);
      __syncthreads();
    }
    for (int i = threadIdx.x; i < p.B * jn; i += blockDim.x) {
      const int b = i / jn, u = i % jn;
      const int64_t j = j0 + u, o = t * BH + b * H + j;
      const T c_prev = t == 0 ? a.c0[b * H + j] : a.cells[o - BH];
      kmath::lstm_persistent_cell_backward(
          p, later ? part : static_cast<const T*>(nullptr), u, j, b, a.act + t * BG + b * 4 * H,
          c_prev, a.cells[o], a.dh_out[o], carry[kmath::recurrent_carry_index(p, b, u)],
          a.dgates + t * BG + b * 4 * H);
    }
    grid.sync();  // dgates_t complete before any block stages it
  }
  stage_operand(p, a.dgates, x);
  __syncthreads();
  dot_phase(p, jn, w, x, part);
  __syncthreads();
  for (int i = threadIdx.x; i < p.B * jn; i += blockDim.x) {
    const int b = i / jn, u = i % jn;
    const int64_t o = b * H + j0 + u;
    a.dh0[o] = kmath::recurrent_slice_sum(p, part, u, b);
    a.dc[o] = carry[kmath::recurrent_carry_index(p, b, u)];
  }
}

template <class T>
struct GruForwardArgs {
  RecurrentPlan p;
  int64_t Tn;
  const T *gx, *w_hh, *b_hh, *h0;
  T *h_out, *save;
};

template <class T>
__global__ void __launch_bounds__(kRecurrentThreads, 1)
    gru_persistent_forward_kernel(const GruForwardArgs<T> a) {
  const RecurrentPlan& p = a.p;
  T* sm = Smem::base<T>();
  T *w = sm + p.w_off, *x = sm + p.x_off, *part = sm + p.part_off;
  int64_t j0;
  int jn;
  kmath::recurrent_block_units(p, blockIdx.x, j0, jn);
  stage_weights(p, RecurrentPass::forward, j0, jn, a.w_hh, w);
  const int64_t H = p.H, BH = p.B * H, BG = 3 * BH;
  cg::grid_group grid = cg::this_grid();
  for (int64_t t = 0; t < a.Tn; ++t) {
    stage_operand(p, t == 0 ? a.h0 : a.h_out + (t - 1) * BH, x);
    __syncthreads();
    dot_phase(p, jn, w, x, part);
    __syncthreads();
    for (int i = threadIdx.x; i < p.B * jn; i += blockDim.x) {
      const int b = i / jn, u = i % jn;
      const int64_t j = j0 + u;
      T h;
      kmath::gru_persistent_cell_forward(p, part, u, j, b, a.gx + t * BG + b * 3 * H, a.b_hh,
                                         x[b * H + j], a.save + t * 4 * BH + b * 4 * H, h);
      a.h_out[t * BH + b * H + j] = h;
    }
    if (t + 1 < a.Tn) grid.sync();
  }
}

template <class T>
struct GruBackwardArgs {
  RecurrentPlan p;
  int64_t Tn;
  const T *w_hh, *h0, *h_out, *save, *dh_out;
  T *dgx, *dgh, *dh0;
};

template <class T>
__global__ void __launch_bounds__(kRecurrentThreads, 1)
    gru_persistent_backward_kernel(const GruBackwardArgs<T> a) {
  const RecurrentPlan& p = a.p;
  T* sm = Smem::base<T>();
  T *w = sm + p.w_off, *x = sm + p.x_off, *part = sm + p.part_off, *carry = sm + p.carry_off;
  int64_t j0;
  int jn;
  kmath::recurrent_block_units(p, blockIdx.x, j0, jn);
  stage_weights(p, RecurrentPass::backward, j0, jn, a.w_hh, w);
  const int64_t H = p.H, BH = p.B * H, BG = 3 * BH;
  for (int i = threadIdx.x; i < p.B * jn; i += blockDim.x)
    carry[kmath::recurrent_carry_index(p, i / jn, i % jn)] = T(0);
  cg::grid_group grid = cg::this_grid();
  for (int64_t t = a.Tn - 1; t >= 0; --t) {
    const bool later = t + 1 < a.Tn;
    if (later) {
      stage_operand(p, a.dgh + (t + 1) * BG, x);
      __syncthreads();
      dot_phase(p, jn, w, x, part);
      __syncthreads();
    }
    for (int i = threadIdx.x; i < p.B * jn; i += blockDim.x) {
      const int b = i / jn, u = i % jn;
      const int64_t j = j0 + u, o = t * BH + b * H + j;
      const T h_prev = t == 0 ? a.h0[b * H + j] : a.h_out[o - BH];
      kmath::gru_persistent_cell_backward(p, later ? part : static_cast<const T*>(nullptr), u, j, b,
                                          a.save + t * 4 * BH + b * 4 * H, h_prev, a.dh_out[o],
                                          carry[kmath::recurrent_carry_index(p, b, u)],
                                          a.dgx + t * BG + b * 3 * H, a.dgh + t * BG + b * 3 * H);
    }
    grid.sync();
  }
  stage_operand(p, a.dgh, x);
  __syncthreads();
  dot_phase(p, jn, w, x, part);
  __syncthreads();
  for (int i = threadIdx.x; i < p.B * jn; i += blockDim.x) {
    const int b = i / jn, u = i % jn;
    a.dh0[b * H + j0 + u] =
        carry[kmath::recurrent_carry_index(p, b, u)] + kmath::recurrent_slice_sum(p, part, u, b);
  }
}

// ---- host side ----

enum class Mode { automatic, off, on };

// CADENZA_RNN_PERSISTENT: unset or empty (automatic), 0 or 1. Read on every
// call, so a test or benchmark can switch paths between calls.
Mode persistent_mode(const char* op) {
  const char* e = std::getenv("CADENZA_RNN_PERSISTENT");
  if (!e || !*e) return Mode::automatic;
  if (e[0] == '0' && !e[1]) return Mode::off;
  if (e[0] == '1' && !e[1]) return Mode::on;
  throw std::invalid_argument(std::string(op) +
                              " (cuda): CADENZA_RNN_PERSISTENT must be 0 or 1 (or unset), got '" +
                              e + "'");
}

struct DeviceLimits {
  int sms = 0, smem_optin = 0, cooperative = 0;
};

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}

DeviceLimits device_limits(int dev) {
  static std::map<int, DeviceLimits> cache;
  std::lock_guard<std::mutex> lock(cache_mutex());
  auto it = cache.find(dev);
  if (it != cache.end()) return it->second;
  DeviceLimits d;
  CADENZA_CUDA_CHECK(cudaDeviceGetAttribute(&d.sms, cudaDevAttrMultiProcessorCount, dev));
  CADENZA_CUDA_CHECK(
      cudaDeviceGetAttribute(&d.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  CADENZA_CUDA_CHECK(cudaDeviceGetAttribute(&d.cooperative, cudaDevAttrCooperativeLaunch, dev));
  return cache[dev] = d;
}

// Whether all p.blocks blocks of `kernel` fit on the device at once (which
// cudaLaunchCooperativeKernel requires). Lets the kernel use the device's
// whole opt-in shared memory first, once per kernel and device.
bool all_resident(const void* kernel, int dev, const DeviceLimits& lim, const RecurrentPlan& p) {
  static std::set<std::pair<const void*, int>> opted_in;
  static std::map<std::tuple<const void*, int, size_t>, int> per_sm_cache;
  std::lock_guard<std::mutex> lock(cache_mutex());
  if (!opted_in.count({kernel, dev})) {
    CADENZA_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, lim.smem_optin));
    opted_in.insert({kernel, dev});
  }
  const auto key = std::make_tuple(kernel, dev, p.smem_bytes);
  auto it = per_sm_cache.find(key);
  if (it == per_sm_cache.end()) {
    int per_sm = 0;
    CADENZA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
        &per_sm, kernel, kRecurrentThreads, p.smem_bytes));
    it = per_sm_cache.emplace(key, per_sm).first;
  }
  return int64_t{it->second} * lim.sms >= p.blocks;
}

// The plan for this call; !use sends the caller to the cuBLAS path.
RecurrentPlan choose(const char* op, const void* kernel, RecurrentPass pass, int gates, int64_t B,
                     int64_t H, size_t elem) {
  RecurrentPlan p;
  const Mode mode = persistent_mode(op);
  if (mode == Mode::off) return p;
  int dev = 0;
  CADENZA_CUDA_CHECK(cudaGetDevice(&dev));
  const DeviceLimits lim = device_limits(dev);
  if (!lim.cooperative) {
    p.why = "the device has no cooperative launch";
  } else {
    p = kmath::plan_recurrent(pass, gates, B, H, elem, lim.sms,
                              static_cast<size_t>(lim.smem_optin));
    if (p.use && !all_resident(kernel, dev, lim, p)) {
      p.use = false;
      p.why = "its blocks cannot all be resident at once";
    }
  }
  if (!p.use && mode == Mode::on)
    throw std::runtime_error(std::string(op) +
                             " (cuda): CADENZA_RNN_PERSISTENT=1, but the persistent kernel " +
                             "cannot run B = " + std::to_string(B) + ", H = " + std::to_string(H) +
                             " on cuda:" + std::to_string(dev) + ": " + p.why);
  return p;
}

template <class Args>
void launch(void (*kernel)(Args), const Args& args) {
  CADENZA_CUDA_CHECK(launch_cooperative(kernel, dim3(args.p.blocks), dim3(kRecurrentThreads), args.p.smem_bytes,
                                        current_stream(), args));
}

}  // namespace

template <class T>
bool lstm_recurrent_forward_persistent(int64_t Tn, int64_t B, int64_t H, T* act, const T* w_hh,
                                       const T* h0, const T* c0, T* h_out, T* cells) {
  auto kernel = lstm_persistent_forward_kernel<T>;
  const RecurrentPlan p = choose("lstm_recurrent_forward", reinterpret_cast<const void*>(kernel),
                                 RecurrentPass::forward, 4, B, H, sizeof(T));
  if (!p.use) return false;
  launch(kernel, LstmForwardArgs<T>{p, Tn, act, w_hh, h0, c0, h_out, cells});
  return true;
}

template <class T>
bool lstm_recurrent_backward_persistent(int64_t Tn, int64_t B, int64_t H, const T* act,
                                        const T* w_hh, const T* c0, const T* cells, const T* dh_out,
                                        T* dc, T* dh0, T* dgates) {
  auto kernel = lstm_persistent_backward_kernel<T>;
  const RecurrentPlan p = choose("lstm_recurrent_backward", reinterpret_cast<const void*>(kernel),
                                 RecurrentPass::backward, 4, B, H, sizeof(T));
  if (!p.use) return false;
  launch(kernel, LstmBackwardArgs<T>{p, Tn, act, w_hh, c0, cells, dh_out, dc, dh0, dgates});
  return true;
}

template <class T>
bool gru_recurrent_forward_persistent(int64_t Tn, int64_t B, int64_t H, const T* gx, const T* w_hh,
                                      const T* b_hh, const T* h0, T* h_out, T* save) {
  auto kernel = gru_persistent_forward_kernel<T>;
  const RecurrentPlan p = choose("gru_recurrent_forward", reinterpret_cast<const void*>(kernel),
                                 RecurrentPass::forward, 3, B, H, sizeof(T));
  if (!p.use) return false;
  launch(kernel, GruForwardArgs<T>{p, Tn, gx, w_hh, b_hh, h0, h_out, save});
  return true;
}

template <class T>
bool gru_recurrent_backward_persistent(int64_t Tn, int64_t B, int64_t H, const T* w_hh, const T* h0,
                                       const T* h_out, const T* save, const T* dh_out, T* dgx,
                                       T* dgh, T* dh0) {
  auto kernel = gru_persistent_backward_kernel<T>;
  const RecurrentPlan p = choose("gru_recurrent_backward", reinterpret_cast<const void*>(kernel),
                                 RecurrentPass::backward, 3, B, H, sizeof(T));
  if (!p.use) return false;
  launch(kernel, GruBackwardArgs<T>{p, Tn, w_hh, h0, h_out, save, dh_out, dgx, dgh, dh0});
  return true;
}

#define CADENZA_RNN_PERSISTENT_INSTANTIATE(T)                                                      \
  template bool lstm_recurrent_forward_persistent<T>(int64_t, int64_t, int64_t, T*, const T*,      \
                                                     const T*, const T*, T*, T*);                  \
  template bool lstm_recurrent_backward_persistent<T>(                                             \
      int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*, const T*, T*, T*, T*);    \
  template bool gru_recurrent_forward_persistent<T>(int64_t, int64_t, int64_t, const T*, const T*, \
                                                    const T*, const T*, T*, T*);                   \
  template bool gru_recurrent_backward_persistent<T>(                                              \
      int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*, const T*, T*, T*, T*);
CADENZA_RNN_PERSISTENT_INSTANTIATE(float)
CADENZA_RNN_PERSISTENT_INSTANTIATE(double)
#undef CADENZA_RNN_PERSISTENT_INSTANTIATE

}  // namespace cadenza::kernels::cuda
