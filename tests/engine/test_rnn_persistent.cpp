// The persistent small-batch recurrences of kernels/cuda/rnn_persistent.cu,
// without a GPU: their plan (kernels/rnn_math.h) for W1's layer and the
// fallbacks, and their whole schedule run on the host block after block,
// step by step, through the very functions the kernels call (the unit
// partition, the staging of W_hh, the warps' work items, the lanes' dot
// products, the shuffle tree, the slice sums and the per-unit cells),
// against kernels/cpu/rnn on odd shapes. Shared memory and outputs start as
// NaN, so a slot the schedule forgets to stage or an element it forgets to
// write shows. What only a GPU shows (the grid barrier, L2 visibility,
// occupancy) is tests/engine_tools/cuda_backend_check.cpp's.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/rnn.h"
#include "kernels/rnn_math.h"

using namespace cadenza;
namespace km = cadenza::kmath;
using km::RecurrentPass;
using km::RecurrentPlan;

namespace {

template <class T>
std::vector<T> random_values(int64_t n, uint32_t seed, double scale) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> d(-scale, scale);
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) x = static_cast<T>(d(g));
  return v;
}

template <class T>
std::vector<T> nans(int64_t n) {
  return std::vector<T>(static_cast<size_t>(n), std::numeric_limits<T>::quiet_NaN());
}

template <class T>
DType dtype_of() {
  return sizeof(T) == 4 ? DType::f32 : DType::f64;
}

// 132 multiprocessors with 227 KB of opt-in shared memory a block: H100/H200.
constexpr int kSms = 132;
constexpr size_t kSmem = 227 * 1024;

// One block of the kernel: its units and its shared memory.
template <class T>
struct Block {
  int64_t j0 = 0;
  int jn = 0;
  std::vector<T> smem;
  T* w() { return smem.data(); }
  T* x(const RecurrentPlan& p) { return smem.data() + p.x_off; }
  T* part(const RecurrentPlan& p) { return smem.data() + p.part_off; }
  T* carry(const RecurrentPlan& p) { return smem.data() + p.carry_off; }
};

// The kernels' prologue: units and staged weights of every block.
template <class T>
std::vector<Block<T>> make_blocks(const RecurrentPlan& p, RecurrentPass pass, const T* w_hh) {
  std::vector<Block<T>> blocks(static_cast<size_t>(p.blocks));
  for (int bi = 0; bi < p.blocks; ++bi) {
    Block<T>& blk = blocks[static_cast<size_t>(bi)];
    km::recurrent_block_units(p, bi, blk.j0, blk.jn);
    blk.smem = nans<T>(p.elems);
    for (int64_t i = 0; i < int64_t{p.tasks} * p.K; ++i) {
      int64_t src, dst;
      const bool mine = pass == RecurrentPass::forward
                            ? km::recurrent_forward_weight(p, blk.j0, blk.jn, i, src, dst)
                            : km::recurrent_backward_weight(p, blk.j0, blk.jn, i, src, dst);
      if (mine) blk.w()[dst] = w_hh[src];
    }
  }
  return blocks;
}

// The kernels' dot_phase, warp by warp and lane by lane; the warp's
// shuffle-down tree is km::tree_sum32.
template <class T>
void dot_phase(const RecurrentPlan& p, Block<T>& blk) {
  for (int warp = 0; warp < km::kRecurrentWarps; ++warp)
    for (int i = warp; i < p.tasks * p.split; i += km::kRecurrentWarps) {
      int task, s;
      km::recurrent_work_item(p, i, task, s);
      if (km::recurrent_task_unit(p, task) >= blk.jn) continue;
      int64_t k0, k1;
      km::recurrent_slice(p, s, k0, k1);
      T lanes[km::kRecurrentMaxBatch][32];
      for (int lane = 0; lane < 32; ++lane) {
        T acc[km::kRecurrentMaxBatch];
        km::recurrent_lane_dot(blk.w() + task * p.K, blk.x(p), p.K, p.B, k0, k1, lane, acc);
        for (int b = 0; b < km::kRecurrentMaxBatch; ++b) lanes[b][lane] = acc[b];
      }
      for (int b = 0; b < p.B; ++b)
        blk.part(p)[km::recurrent_part_index(p, s, task, b)] = km::tree_sum32(lanes[b]);
    }
}

template <class T>
void stage(const RecurrentPlan& p, Block<T>& blk, const T* src) {
  for (int64_t i = 0; i < p.B * p.K; ++i) blk.x(p)[i] = src[i];
}

// lstm_persistent_forward_kernel, one block after another within each step
// (the grid barrier is the end of a step's loop over blocks).
template <class T>
void lstm_forward_schedule(const RecurrentPlan& p, int64_t Tn, T* act, const T* w_hh, const T* h0,
                           const T* c0, T* h_out, T* cells) {
  auto blocks = make_blocks(p, RecurrentPass::forward, w_hh);
  const int64_t H = p.H, BH = p.B * H, BG = 4 * BH;
  for (auto& blk : blocks)
    for (int i = 0; i < p.B * blk.jn; ++i)
      blk.carry(p)[km::recurrent_carry_index(p, i / blk.jn, i % blk.jn)] =
          c0[i / blk.jn * H + blk.j0 + i % blk.jn];
  for (int64_t t = 0; t < Tn; ++t)
    for (auto& blk : blocks) {
      stage(p, blk, t == 0 ? h0 : h_out + (t - 1) * BH);
      dot_phase(p, blk);
      for (int i = 0; i < p.B * blk.jn; ++i) {
        const int b = i / blk.jn, u = i % blk.jn;
        const int64_t j = blk.j0 + u, o = t * BH + b * H + j;
        T& c = blk.carry(p)[km::recurrent_carry_index(p, b, u)];
        T h;
        km::lstm_persistent_cell_forward(p, blk.part(p), u, j, b, act + t * BG + b * 4 * H, c, h);
        cells[o] = c;
        h_out[o] = h;
      }
    }
}

template <class T>
void lstm_backward_schedule(const RecurrentPlan& p, int64_t Tn, const T* act, const T* w_hh,
                            const T* c0, const T* cells, const T* dh_out, T* dc, T* dh0,
                            T* dgates) {
  auto blocks = make_blocks(p, RecurrentPass::backward, w_hh);
  const int64_t H = p.H, BH = p.B * H, BG = 4 * BH;
  for (auto& blk : blocks)
    for (int i = 0; i < p.B * blk.jn; ++i)
      blk.carry(p)[km::recurrent_carry_index(p, i / blk.jn, i % blk.jn)] =
          dc[i / blk.jn * H + blk.j0 + i % blk.jn];
  for (int64_t t = Tn - 1; t >= 0; --t)
    for (auto& blk : blocks) {
      const bool later = t + 1 < Tn;
      if (later) {
        stage(p, blk, dgates + (t + 1) * BG);
        dot_phase(p, blk);
      }
      for (int i = 0; i < p.B * blk.jn; ++i) {
        const int b = i / blk.jn, u = i % blk.jn;
        const int64_t j = blk.j0 + u, o = t * BH + b * H + j;
        const T c_prev = t == 0 ? c0[b * H + j] : cells[o - BH];
        km::lstm_persistent_cell_backward(p, later ? blk.part(p) : nullptr, u, j, b,
                                          act + t * BG + b * 4 * H, c_prev, cells[o], dh_out[o],
                                          blk.carry(p)[km::recurrent_carry_index(p, b, u)],
                                          dgates + t * BG + b * 4 * H);
      }
    }
  for (auto& blk : blocks) {
    stage(p, blk, dgates);
    dot_phase(p, blk);
    for (int i = 0; i < p.B * blk.jn; ++i) {
      const int b = i / blk.jn, u = i % blk.jn;
      const int64_t o = b * H + blk.j0 + u;
      dh0[o] = km::recurrent_slice_sum(p, blk.part(p), u, b);
      dc[o] = blk.carry(p)[km::recurrent_carry_index(p, b, u)];
    }
  }
}

template <class T>
void gru_forward_schedule(const RecurrentPlan& p, int64_t Tn, const T* gx, const T* w_hh,
                          const T* b_hh, const T* h0, T* h_out, T* save) {
  auto blocks = make_blocks(p, RecurrentPass::forward, w_hh);
  const int64_t H = p.H, BH = p.B * H, BG = 3 * BH;
  for (int64_t t = 0; t < Tn; ++t)
    for (auto& blk : blocks) {
      stage(p, blk, t == 0 ? h0 : h_out + (t - 1) * BH);
      dot_phase(p, blk);
      for (int i = 0; i < p.B * blk.jn; ++i) {
        const int b = i / blk.jn, u = i % blk.jn;
        const int64_t j = blk.j0 + u;
        T h;
        km::gru_persistent_cell_forward(p, blk.part(p), u, j, b, gx + t * BG + b * 3 * H, b_hh,
                                        blk.x(p)[b * H + j], save + t * 4 * BH + b * 4 * H, h);
        h_out[t * BH + b * H + j] = h;
      }
    }
}

template <class T>
void gru_backward_schedule(const RecurrentPlan& p, int64_t Tn, const T* w_hh, const T* h0,
                           const T* h_out, const T* save, const T* dh_out, T* dgx, T* dgh, T* dh0) {
  auto blocks = make_blocks(p, RecurrentPass::backward, w_hh);
  const int64_t H = p.H, BH = p.B * H, BG = 3 * BH;
  for (auto& blk : blocks)
    for (int i = 0; i < p.B * blk.jn; ++i)
      blk.carry(p)[km::recurrent_carry_index(p, i / blk.jn, i % blk.jn)] = T(0);
  for (int64_t t = Tn - 1; t >= 0; --t)
    for (auto& blk : blocks) {
      const bool later = t + 1 < Tn;
      if (later) {
        stage(p, blk, dgh + (t + 1) * BG);
        dot_phase(p, blk);
      }
      for (int i = 0; i < p.B * blk.jn; ++i) {
        const int b = i / blk.jn, u = i % blk.jn;
        const int64_t j = blk.j0 + u, o = t * BH + b * H + j;
        const T h_prev = t == 0 ? h0[b * H + j] : h_out[o - BH];
        km::gru_persistent_cell_backward(p, later ? blk.part(p) : nullptr, u, j, b,
                                         save + t * 4 * BH + b * 4 * H, h_prev, dh_out[o],
                                         blk.carry(p)[km::recurrent_carry_index(p, b, u)],
                                         dgx + t * BG + b * 3 * H, dgh + t * BG + b * 3 * H);
      }
    }
  for (auto& blk : blocks) {
    stage(p, blk, dgh);
    dot_phase(p, blk);
    for (int i = 0; i < p.B * blk.jn; ++i) {
      const int b = i / blk.jn, u = i % blk.jn;
      dh0[b * H + blk.j0 + u] = blk.carry(p)[km::recurrent_carry_index(p, b, u)] +
                                km::recurrent_slice_sum(p, blk.part(p), u, b);
    }
  }
}

// |got - want| <= tol (1 + |want|) everywhere; NaN fails.
template <class T>
void require_close(const std::vector<T>& got, const std::vector<T>& want, double tol,
                   const char* what) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(double(got[i]) - double(want[i]));
    if (!(d <= tol * (1 + std::abs(double(want[i]))))) {
      INFO(what << " element " << i << ": " << got[i] << " against " << want[i]);
      REQUIRE(d <= tol * (1 + std::abs(double(want[i]))));
    }
  }
}

RecurrentPlan plan_for(RecurrentPass pass, int gates, int64_t B, int64_t H, size_t elem, int sms) {
  RecurrentPlan p = km::plan_recurrent(pass, gates, B, H, elem, sms, kSmem);
  INFO("B " << B << ", H " << H << ", SMs " << sms << ": " << p.why);
  REQUIRE(p.use);
  return p;
}

template <class T>
void check_lstm(int64_t Tn, int64_t B, int64_t H, int sms, double tol) {
  INFO("LSTM " << (sizeof(T) == 4 ? "f32" : "f64") << " T " << Tn << ", B " << B << ", H " << H
               << ", SMs " << sms);
  const int64_t G = 4 * H, BH = B * H;
  const auto pre = random_values<T>(Tn * B * G, 1, 1.0),
             w_hh = random_values<T>(G * H, 2, 0.8 / std::sqrt(H)),
             h0 = random_values<T>(BH, 3, 1.0), c0 = random_values<T>(BH, 4, 1.0),
             dh_out = random_values<T>(Tn * BH, 5, 1.0), dc_in = random_values<T>(BH, 6, 1.0);
  const DType dt = dtype_of<T>();

  std::vector<T> act = pre, h = nans<T>(Tn * BH), cells = nans<T>(Tn * BH);
  kernels::lstm_recurrent_forward(dt, Tn, B, H, act.data(), w_hh.data(), h0.data(), c0.data(),
                                  h.data(), cells.data());
  std::vector<T> pact = pre, ph = nans<T>(Tn * BH), pcells = nans<T>(Tn * BH);
  lstm_forward_schedule(plan_for(RecurrentPass::forward, 4, B, H, sizeof(T), sms), Tn, pact.data(),
                        w_hh.data(), h0.data(), c0.data(), ph.data(), pcells.data());
  require_close(pact, act, tol, "activations");
  require_close(ph, h, tol, "h");
  require_close(pcells, cells, tol, "cells");

  std::vector<T> dc = dc_in, dh0 = nans<T>(BH), dg = nans<T>(Tn * B * G);
  kernels::lstm_recurrent_backward(dt, Tn, B, H, act.data(), w_hh.data(), c0.data(), cells.data(),
                                   dh_out.data(), dc.data(), dh0.data(), dg.data());
  std::vector<T> pdc = dc_in, pdh0 = nans<T>(BH), pdg = nans<T>(Tn * B * G);
  lstm_backward_schedule(plan_for(RecurrentPass::backward, 4, B, H, sizeof(T), sms), Tn, act.data(),
                         w_hh.data(), c0.data(), cells.data(), dh_out.data(), pdc.data(),
                         pdh0.data(), pdg.data());
  require_close(pdg, dg, tol, "dgates");
  require_close(pdh0, dh0, tol, "dh0");
  require_close(pdc, dc, tol, "dc0");
}

template <class T>
void check_gru(int64_t Tn, int64_t B, int64_t H, int sms, bool bias, double tol) {
  INFO("GRU " << (sizeof(T) == 4 ? "f32" : "f64") << " T " << Tn << ", B " << B << ", H " << H
              << ", SMs " << sms << (bias ? ", b_hh" : ""));
  const int64_t G = 3 * H, BH = B * H;
  const auto gx = random_values<T>(Tn * B * G, 11, 1.0),
             w_hh = random_values<T>(G * H, 12, 0.8 / std::sqrt(H)),
             b_hh = random_values<T>(G, 13, 0.5), h0 = random_values<T>(BH, 14, 1.0),
             dh_out = random_values<T>(Tn * BH, 15, 1.0);
  const T* bp = bias ? b_hh.data() : nullptr;
  const DType dt = dtype_of<T>();

  std::vector<T> h = nans<T>(Tn * BH), save = nans<T>(Tn * 4 * BH);
  kernels::gru_recurrent_forward(dt, Tn, B, H, gx.data(), w_hh.data(), bp, h0.data(), h.data(),
                                 save.data());
  std::vector<T> ph = nans<T>(Tn * BH), psave = nans<T>(Tn * 4 * BH);
  gru_forward_schedule(plan_for(RecurrentPass::forward, 3, B, H, sizeof(T), sms), Tn, gx.data(),
                       w_hh.data(), bp, h0.data(), ph.data(), psave.data());
  require_close(ph, h, tol, "h");
  require_close(psave, save, tol, "save");

  std::vector<T> dgx = nans<T>(Tn * B * G), dgh = nans<T>(Tn * B * G), dh0 = nans<T>(BH);
  kernels::gru_recurrent_backward(dt, Tn, B, H, w_hh.data(), h0.data(), h.data(), save.data(),
                                  dh_out.data(), dgx.data(), dgh.data(), dh0.data());
  std::vector<T> pdgx = nans<T>(Tn * B * G), pdgh = nans<T>(Tn * B * G), pdh0 = nans<T>(BH);
  gru_backward_schedule(plan_for(RecurrentPass::backward, 3, B, H, sizeof(T), sms), Tn, w_hh.data(),
                        h0.data(), h.data(), save.data(), dh_out.data(), pdgx.data(), pdgh.data(),
                        pdh0.data());
  require_close(pdgx, dgx, tol, "dgx");
  require_close(pdgh, dgh, tol, "dgh");
  require_close(pdh0, dh0, tol, "dh0");
}

}  // namespace

TEST_CASE("rnn persistent: the plan for W1's layer on a 132-SM, 227 KB device",
          "[rnn][persistent]") {
  for (int64_t B = 1; B <= 8; ++B) {
    INFO("B " << B);
    const RecurrentPlan f = km::plan_recurrent(RecurrentPass::forward, 4, B, 512, 4, kSms, kSmem);
    REQUIRE(f.use);
    CHECK(f.units == 4);
    CHECK(f.blocks == 128);
    CHECK(f.tasks == 16);
    CHECK(f.split == 1);
    CHECK(f.K == 512);
    // W_hh's 16 rows, h_{t-1}, 16 sums per row of h, c of 4 units.
    CHECK(f.smem_bytes == size_t(16 * 512 + B * 512 + 16 * B + 4 * B) * 4);
    const RecurrentPlan b = km::plan_recurrent(RecurrentPass::backward, 4, B, 512, 4, kSms, kSmem);
    REQUIRE(b.use);
    CHECK(b.units == 4);
    CHECK(b.blocks == 128);
    CHECK(b.tasks == 4);
    CHECK(b.split == 4);
    CHECK(b.K == 2048);
    // 4 columns of W_hh, dgates of the later step, 4 slices x 4 units of sums, dc.
    CHECK(b.smem_bytes == size_t(4 * 2048 + B * 2048 + 16 * B + 4 * B) * 4);
  }
  CHECK(km::plan_recurrent(RecurrentPass::forward, 4, 8, 512, 4, kSms, kSmem).smem_bytes == 49792);
  CHECK(km::plan_recurrent(RecurrentPass::backward, 4, 8, 512, 4, kSms, kSmem).smem_bytes == 98944);
  // f64 fits too (the backward's 193 KB of it only with the opt-in).
  CHECK(km::plan_recurrent(RecurrentPass::forward, 4, 8, 512, 8, kSms, kSmem).use);
  CHECK(km::plan_recurrent(RecurrentPass::backward, 4, 8, 512, 8, kSms, kSmem).smem_bytes ==
        197888);
  CHECK(km::plan_recurrent(RecurrentPass::backward, 4, 8, 512, 8, kSms, kSmem).use);
  CHECK(!km::plan_recurrent(RecurrentPass::backward, 4, 8, 512, 8, kSms, 48 * 1024).use);
  // GRU's layer of the same size: 3 gates.
  const RecurrentPlan g = km::plan_recurrent(RecurrentPass::forward, 3, 8, 512, 4, kSms, kSmem);
  CHECK((g.use && g.units == 4 && g.tasks == 12 && g.split == 1));
}

TEST_CASE("rnn persistent: batches above 8, huge layers and small devices fall back",
          "[rnn][persistent]") {
  for (RecurrentPass pass : {RecurrentPass::forward, RecurrentPass::backward}) {
    const RecurrentPlan b9 = km::plan_recurrent(pass, 4, 9, 512, 4, kSms, kSmem);
    CHECK(!b9.use);
    CHECK(std::string(b9.why) == "batch above 8");
    const RecurrentPlan big =
        km::plan_recurrent(pass, 4, 1, 4096, 4, kSms, kSmem);  // 2 MB of W_hh a block
    CHECK(!big.use);
    CHECK(std::string(big.why).find("shared memory") != std::string::npos);
    CHECK(!km::plan_recurrent(pass, 4, 1, 1 << 20, 4, kSms, kSmem).use);  // beyond int counts
    CHECK(!km::plan_recurrent(pass, 4, 1, 512, 4, 8, kSmem).use);         // 8 SMs: 64 units a block
    CHECK(!km::plan_recurrent(pass, 4, 0, 512, 4, kSms, kSmem).use);
    CHECK(!km::plan_recurrent(pass, 4, 1, 0, 4, kSms, kSmem).use);
    CHECK(!km::plan_recurrent(pass, 4, 1, 512, 4, 0, kSmem).use);
  }
}

TEST_CASE("rnn persistent: blocks cover every unit once and stage every weight once",
          "[rnn][persistent]") {
  for (int64_t H : {1, 5, 13, 64, 133})
    for (int sms : {1, 3, 7, kSms})
      for (int gates : {3, 4})
        for (RecurrentPass pass : {RecurrentPass::forward, RecurrentPass::backward}) {
          INFO("H " << H << ", SMs " << sms << ", gates " << gates
                    << (pass == RecurrentPass::forward ? ", forward" : ", backward"));
          const RecurrentPlan p = km::plan_recurrent(pass, gates, 3, H, 4, sms, size_t(1) << 30);
          REQUIRE(p.use);
          CHECK(p.blocks <= sms);
          CHECK(p.split * p.tasks <= std::max(p.tasks, km::kRecurrentWarps));
          std::vector<int> unit_owners(static_cast<size_t>(H)),
              staged(static_cast<size_t>(gates * H * H));
          for (int bi = 0; bi < p.blocks; ++bi) {
            int64_t j0;
            int jn;
            km::recurrent_block_units(p, bi, j0, jn);
            REQUIRE(jn >= 1);
            for (int u = 0; u < jn; ++u) ++unit_owners[static_cast<size_t>(j0 + u)];
            std::vector<int> slots(static_cast<size_t>(p.tasks * p.K));
            for (int64_t i = 0; i < p.tasks * p.K; ++i) {
              int64_t src, dst;
              const bool mine = pass == RecurrentPass::forward
                                    ? km::recurrent_forward_weight(p, j0, jn, i, src, dst)
                                    : km::recurrent_backward_weight(p, j0, jn, i, src, dst);
              if (!mine) continue;
              ++slots[static_cast<size_t>(dst)];
              ++staged[static_cast<size_t>(src)];
              // The weight lands where the task of its unit reads it.
              const int64_t row = src / H, col = src % H;
              const int64_t unit = pass == RecurrentPass::forward ? row % H : col;
              const int64_t task = dst / p.K, k = dst % p.K;
              CHECK(j0 + km::recurrent_task_unit(p, static_cast<int>(task)) == unit);
              CHECK(k == (pass == RecurrentPass::forward ? col : row));
            }
            for (int s : slots) CHECK(s <= 1);
          }
          for (int n : unit_owners) CHECK(n == 1);
          // Every weight once per pass: forward by the row's unit, backward by the column's.
          for (int n : staged) CHECK(n == 1);
          // The slices of a dot product tile [0, K).
          int64_t end = 0;
          for (int s = 0; s < p.split; ++s) {
            int64_t k0, k1;
            km::recurrent_slice(p, s, k0, k1);
            CHECK(k0 == end);
            end = k1;
          }
          CHECK(end == p.K);
        }
}

TEST_CASE("rnn persistent: tree_sum32 adds in the shuffle-down order", "[rnn][persistent]") {
  // 2^24 + 1 + ... : the order shows in f32. Lane 0 gets ((v0 + v16) + (v8 + v24)) + ...
  float v[32] = {};
  v[0] = 16777216.0f;
  v[16] = 1.0f;
  v[8] = 1.0f;
  float w[32];
  std::copy(v, v + 32, w);
  CHECK(km::tree_sum32(w) == 16777216.0f);  // each 1 meets 2^24 alone and rounds away
  float x[32] = {};
  x[1] = 1.0f;
  x[17] = 1.0f;
  x[0] = 16777216.0f;
  CHECK(km::tree_sum32(x) == 16777218.0f);  // the two 1s meet before 2^24
}

TEST_CASE("rnn persistent: the LSTM schedule equals the CPU recurrence", "[rnn][persistent]") {
  for (int64_t Tn : {1, 7})
    for (int64_t B : {1, 3, 8})
      for (int64_t H : {5, 13, 64})
        for (int sms : {3, kSms}) {
          check_lstm<double>(Tn, B, H, sms, 1e-12);
          check_lstm<float>(Tn, B, H, sms, 2e-5);
        }
}

TEST_CASE("rnn persistent: the GRU schedule equals the CPU recurrence", "[rnn][persistent]") {
  int k = 0;
  for (int64_t Tn : {1, 7})
    for (int64_t B : {1, 3, 8})
      for (int64_t H : {5, 13, 64})
        for (int sms : {3, kSms}) {
          const bool bias = ++k % 2 == 0;
          check_gru<double>(Tn, B, H, sms, bias, 1e-12);
          check_gru<float>(Tn, B, H, sms, !bias, 2e-5);
        }
}

TEST_CASE("rnn persistent: W1's layer, B = 1 and 8, on the 132-SM plan", "[rnn][persistent]") {
  for (int64_t B : {1, 8}) {
    check_lstm<float>(4, B, 512, kSms, 2e-5);
    check_gru<float>(4, B, 512, kSms, true, 2e-5);
  }
}
