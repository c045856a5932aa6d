#pragma once
// The persistent small-batch recurrences of kernels/cuda/rnn.cu
// (lstm_recurrent_* and gru_recurrent_* for B <= 8): the plan, the partition
// of hidden units and of W_hh among blocks, the shared-memory layout, the
// order of every dot product and the per-unit cell steps. The CUDA kernels
// call these functions; tests/engine/test_rnn_persistent.cpp runs the same
// schedule block by block on the host against kernels/cpu/rnn.
//
// Each block owns `units` consecutive hidden units j0 .. j0 + jn - 1 (the
// last block may own fewer). Forward, it keeps the gate rows of W_hh for its
// units on chip; per step it stages h_{t-1} [B, H] and computes, for every
// gate row of its units (a "task"), the dot product with all B rows of h at
// once. Backward, it keeps the columns W_hh[:, j0 .. j0 + jn) and computes
// dh_{t-1}[:, units] = dgates_t W_hh[:, units], one task per unit over all
// gates * H entries of dgates_t. A task's dot product is cut into `split`
// contiguous slices, one warp each; a lane sums every 32nd term of its
// slice, the warp adds its 32 lanes as a fixed tree (tree_sum32) and the
// slices are added in order (slice_sum): the same order on every run and
// every device of the same plan, with no atomics.
#include <cstddef>
#include <cstdint>

#include "kernels/math.h"

#if defined(__CUDA_ARCH__)
#define CADENZA_UNROLL _Pragma("unroll")
#else
#define CADENZA_UNROLL
#endif

namespace cadenza::kmath {

// Per-lane accumulators hold one sum per batch row, in registers.
constexpr int kRecurrentMaxBatch = 8;
constexpr int kRecurrentWarps = 16;  // 512 threads a block
constexpr int kRecurrentThreads = 32 * kRecurrentWarps;

enum class RecurrentPass { forward, backward };

struct RecurrentPlan {
  bool use = false;
  const char* why = "";  // the reason, when !use
  int gates = 0;         // 4 (LSTM) or 3 (GRU)
  int B = 0;
  int64_t H = 0;
  int units = 0;   // hidden units per block
  int blocks = 0;  // ceil(H / units), at most the multiprocessor count
  int tasks = 0;   // dot products per block: gates * units forward, units backward
  int split = 0;   // warps (slices) per dot product
  int64_t K = 0;   // length of a dot product: H forward, gates * H backward
  // Shared memory, in elements: weights [tasks][K], the staged operand
  // [B][K] (h_{t-1}, or dgates of the later step), the slices' sums
  // [split][tasks][B] and a per-unit carry [B][units] (c forward, dc or
  // GRU's direct dh backward).
  int64_t w_off = 0, x_off = 0, part_off = 0, carry_off = 0, elems = 0;
  size_t smem_bytes = 0;
};

// Whether the persistent kernel applies to a layer of hidden size H and
// batch B, and its geometry: the fewest units per block that spread H over
// at most `sms` blocks (one per multiprocessor, all resident, as a grid-wide
// barrier needs), if their weights and state fit in `smem_per_block` bytes.
inline RecurrentPlan plan_recurrent(RecurrentPass pass, int gates, int64_t B, int64_t H,
                                    size_t elem_bytes, int sms, size_t smem_per_block) {
  RecurrentPlan p;
  p.gates = gates;
  p.H = H;
  if (B < 1 || H < 1) {
    p.why = "an empty batch or state";
    return p;
  }
  if (B > kRecurrentMaxBatch) {
    p.why = "batch above 8";
    return p;
  }
  if (sms < 1) {
    p.why = "no multiprocessors";
    return p;
  }
  p.B = static_cast<int>(B);
  const int64_t units = (H + sms - 1) / sms;
  // Beyond this the weights alone exceed any device's shared memory; the
  // bound keeps every count below in int.
  if (units * gates * H > (int64_t(1) << 24)) {
    p.why = "the recurrent weights do not fit in shared memory";
    return p;
  }
  p.units = static_cast<int>(units);
  p.blocks = static_cast<int>((H + units - 1) / units);
  p.tasks = pass == RecurrentPass::forward ? gates * p.units : p.units;
  p.split = p.tasks >= kRecurrentWarps ? 1 : kRecurrentWarps / p.tasks;
  p.K = pass == RecurrentPass::forward ? H : gates * H;
  p.w_off = 0;
  p.x_off = p.w_off + int64_t{p.tasks} * p.K;
  p.part_off = p.x_off + B * p.K;
  p.carry_off = p.part_off + int64_t{p.split} * p.tasks * B;
  p.elems = p.carry_off + B * p.units;
  p.smem_bytes = static_cast<size_t>(p.elems) * elem_bytes;
  if (p.smem_bytes > smem_per_block) {
    p.why = "the recurrent weights and state do not fit in shared memory";
    return p;
  }
  p.use = true;
  return p;
}

// Block `block`'s units: j0 .. j0 + jn - 1.
CADENZA_HD void recurrent_block_units(const RecurrentPlan& p, int block, int64_t& j0, int& jn) {
  j0 = int64_t{block} * p.units;
  const int64_t left = p.H - j0;
  jn = static_cast<int>(left < p.units ? left : p.units);
}

// Staging W_hh [gates * H, H] into the block's weights [tasks][K], element i
// of tasks * K (consecutive i read consecutive addresses of W_hh): false for
// the slots of units the block lacks, else the source index in W_hh and the
// destination in the staged weights.
// Forward: task g * units + u is row g * H + j0 + u of W_hh.
CADENZA_HD bool recurrent_forward_weight(const RecurrentPlan& p, int64_t j0, int jn, int64_t i,
                                         int64_t& src, int64_t& dst) {
  const int64_t row = i / p.H, k = i % p.H;
  const int g = static_cast<int>(row / p.units), u = static_cast<int>(row % p.units);
  if (u >= jn) return false;
  src = (g * p.H + j0 + u) * p.H + k;
  dst = i;
  return true;
}
// Backward: task u is column j0 + u of W_hh, all gates * H rows of it.
CADENZA_HD bool recurrent_backward_weight(const RecurrentPlan& p, int64_t j0, int jn, int64_t i,
                                          int64_t& src, int64_t& dst) {
  const int64_t r = i / p.units;
  const int u = static_cast<int>(i % p.units);
  if (u >= jn) return false;
  src = r * p.H + j0 + u;
  dst = u * p.K + r;
  return true;
}

// A task's unit within the block (forward tasks run gate-major); tasks of
// units the block lacks are skipped.
CADENZA_HD int recurrent_task_unit(const RecurrentPlan& p, int task) {
  return task % p.units;
}

// Work item i (warp w takes i = w, w + warps, ...) is slice `slice` of task `task`.
CADENZA_HD void recurrent_work_item(const RecurrentPlan& p, int i, int& task, int& slice) {
  task = i / p.split;
  slice = i % p.split;
}

// Slice s of a dot product: terms [k0, k1).
CADENZA_HD void recurrent_slice(const RecurrentPlan& p, int s, int64_t& k0, int64_t& k1) {
  k0 = p.K * s / p.split;
  k1 = p.K * (s + 1) / p.split;
}

// One lane's share of a task's dot products with all B rows of x [B][ldx]:
// acc[b] = sum over k = k0 + lane, k0 + lane + 32, ... < k1 of w[k] x[b][k],
// with fused multiply-adds so host and device round alike.
template <class T>
CADENZA_HD void recurrent_lane_dot(const T* w, const T* x, int64_t ldx, int B, int64_t k0,
                                   int64_t k1, int lane, T (&acc)[kRecurrentMaxBatch]) {
  CADENZA_UNROLL
  for (int b = 0; b < kRecurrentMaxBatch; ++b) acc[b] = T(0);
  for (int64_t k = k0 + lane; k < k1; k += 32) {
    const T wk = w[k];
    CADENZA_UNROLL
    for (int b = 0; b < kRecurrentMaxBatch; ++b)
      if (b < B) acc[b] = std::fma(wk, x[b * ldx + k], acc[b]);
  }
}

// The sum of a warp's 32 lane values in the order of the device's
// __shfl_down_sync tree (offsets 16, 8, 4, 2, 1, read at lane 0). Overwrites v.
template <class T>
CADENZA_HD T tree_sum32(T* v) {
  for (int off = 16; off > 0; off >>= 1)
    for (int l = 0; l < off; ++l) v[l] += v[l + off];
  return v[0];
}

// Where slice s of task `task` leaves its sum for batch row b.
CADENZA_HD int64_t recurrent_part_index(const RecurrentPlan& p, int s, int task, int b) {
  return (int64_t{s} * p.tasks + task) * p.B + b;
}

// The whole dot product of task `task` for batch row b: its slices in order.
template <class T>
CADENZA_HD T recurrent_slice_sum(const RecurrentPlan& p, const T* part, int task, int b) {
  T s = part[recurrent_part_index(p, 0, task, b)];
  for (int i = 1; i < p.split; ++i) s += part[recurrent_part_index(p, i, task, b)];
  return s;
}

// The carry of unit u of batch row b.
CADENZA_HD int64_t recurrent_carry_index(const RecurrentPlan& p, int b, int u) {
  return int64_t{b} * p.units + u;
}

// LSTM forward, unit u (hidden index j) of batch row b at one step: act_row
// is that row's [4H] of act (the input projection and biases in, the gate
// activations out); part holds the recurrent sums; c is c_{t-1} in, c_t out.
template <class T>
CADENZA_HD void lstm_persistent_cell_forward(const RecurrentPlan& p, const T* part, int u,
                                             int64_t j, int b, T* act_row, T& c, T& h) {
  T g[4];
  for (int gate = 0; gate < 4; ++gate)
    g[gate] = act_row[gate * p.H + j] + recurrent_slice_sum(p, part, gate * p.units + u, b);
  T c_new;
  lstm_cell_forward(g, int64_t{1}, int64_t{0}, c, c_new, h);
  for (int gate = 0; gate < 4; ++gate) act_row[gate * p.H + j] = g[gate];
  c = c_new;
}

// LSTM backward, unit u (hidden index j) of batch row b at step t: part (null
// at the last step) holds dgates_{t+1} W_hh for the block's units; dc is the
// gradient into c_t in and into c_{t-1} out; writes dgates_t of this unit.
template <class T>
CADENZA_HD void lstm_persistent_cell_backward(const RecurrentPlan& p, const T* part, int u,
                                              int64_t j, int b, const T* act_row, T c_prev, T c,
                                              T dh_out, T& dc, T* dgates_row) {
  const T dh = part ? dh_out + recurrent_slice_sum(p, part, u, b) : dh_out;
  lstm_cell_backward(act_row, p.H, j, c_prev, c, dh, dc, dgates_row, dc);
}

// GRU forward, unit u (hidden index j) of batch row b: gx_row [3H], save_row
// [4H] of this step and row; b_hh [3H] or null.
template <class T>
CADENZA_HD void gru_persistent_cell_forward(const RecurrentPlan& p, const T* part, int u, int64_t j,
                                            int b, const T* gx_row, const T* b_hh, T h_prev,
                                            T* save_row, T& h) {
  T gx[3], gh[3], save[4];
  for (int gate = 0; gate < 3; ++gate) {
    gx[gate] = gx_row[gate * p.H + j];
    gh[gate] =
        recurrent_slice_sum(p, part, gate * p.units + u, b) + (b_hh ? b_hh[gate * p.H + j] : T(0));
  }
  gru_cell_forward(gx, gh, int64_t{1}, int64_t{0}, h_prev, save, h);
  for (int i = 0; i < 4; ++i) save_row[i * p.H + j] = save[i];
}

// GRU backward, unit u (hidden index j) of batch row b at step t: part (null
// at the last step) holds dgh_{t+1} W_hh for the block's units; direct is
// the gradient into h_t that skips W_hh in, and into h_{t-1} out.
template <class T>
CADENZA_HD void gru_persistent_cell_backward(const RecurrentPlan& p, const T* part, int u,
                                             int64_t j, int b, const T* save_row, T h_prev,
                                             T dh_out, T& direct, T* dgx_row, T* dgh_row) {
  const T dh = dh_out + (part ? direct + recurrent_slice_sum(p, part, u, b) : direct);
  gru_cell_backward(save_row, p.H, j, h_prev, dh, dgx_row, dgh_row, direct);
}

}  // namespace cadenza::kmath
