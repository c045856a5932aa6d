#pragma once
// Batch-1 LSTM decoding (models/decoder.h's Decoder: W4, `cadenza sample
// lstm`) as the persistent CUDA kernel runs it (kernels/cuda/decoder.cu):
// the plan, the order of every sum, the cell and the draw, as
// `__host__ __device__` pieces the CPU tests run block by block.
//
// One cooperative launch decodes every token. Block b owns hidden units
// [b units, (b + 1) units) of every layer and keeps their gate rows of W_hh
// and (above layer 0) W_ih in shared memory for the whole launch, with the
// cells' c; it also owns a share of the output rows. Per token: each layer's
// gates of the block's units (layer 0 adds the token's row of the folded
// embedding table), the cells, the new h written to global memory, one
// grid-wide barrier; then each block's logits rows and one more barrier;
// then every block reads all the logits and draws the same next token from
// the same uniform (no third barrier), block 0 writing it out.
//
// A gate row's dot product is a warp's: lane k sums every 32nd term from k
// (fmaf), and the lanes fold as __shfl_down_sync(16, 8, 4, 2, 1) does;
// warp_dot_host replays that order. The draw is sample_token's (models/
// sequence_model.h): the logits sorted by sort_key, weights in double, the
// cumulative search of draw_sorted, which sample_token calls too.
#include <cstdint>
#include <vector>

#include "kernels/math.h"

namespace cadenza::kmath::dec {

// An LSTM decoder's weights on the host, as models/decoder.h's Decoder holds
// them (PyTorch's row-major [4H, in], gates i, f, g, o).
struct Weights {
  int64_t V = 0, H = 0, L = 0;
  const float* table = nullptr;  // [V][4H]: embedding W_ih0^T + b_ih0 + b_hh0
  std::vector<const float*> w_hh;  // per layer [4H][H]
  std::vector<const float*> w_ih;  // per layer [4H][H] (layer 0's unused: it is in the table)
  std::vector<const float*> b;     // per layer [4H] b_ih + b_hh (layer 0's unused)
  const float* w_out = nullptr;    // [V][H]
  const float* b_out = nullptr;    // [V]
};

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;

struct Dims {
  int64_t V = 0, H = 0, L = 0;  // vocabulary, hidden units, layers (LSTM)
};

struct Plan {
  bool fits = false;
  const char* why = "";
  int64_t units = 0, blocks = 0;  // hidden units per block, blocks
  int64_t out_rows = 0;           // the most output rows a block owns
  int64_t sort_n = 0;             // the logits' sort width: a power of two >= V
  // Shared memory in floats (the 64-bit keys and weights take two each):
  // gate rows per layer [L][2 gates-of-units x H] (W_hh, then W_ih above
  // layer 0), output rows [out_rows][H], the staged h_{t-1} and input [2][H],
  // the gate sums [4 units], the cells [L][units], the logits [V], the sort
  // keys [sort_n] (u64) and the draw's weights [V] (double).
  int64_t w_at = 0, out_at = 0, x_at = 0, gates_at = 0, c_at = 0, logits_at = 0, keys_at = 0, p_at = 0, floats = 0;
  int64_t smem_bytes = 0;
};

CADENZA_HD int64_t share_begin(int64_t n, int64_t b, int64_t nb) { return n * b / nb; }

inline Plan plan(const Dims& d, int64_t sms, int64_t smem_limit) {
  Plan p;
  if (d.V < 1 || d.H < 1 || d.L < 1 || sms < 1) {
    p.why = "an empty model or device";
    return p;
  }
  p.units = (d.H + sms - 1) / sms;
  p.blocks = (d.H + p.units - 1) / p.units;
  p.out_rows = (d.V + p.blocks - 1) / p.blocks;
  p.sort_n = 1;
  while (p.sort_n < d.V) p.sort_n *= 2;
  auto even = [](int64_t f) { return (f + 3) / 4 * 4; };  // 16-byte alignment
  const int64_t rows = 4 * p.units;
  p.w_at = 0;
  p.out_at = even(p.w_at + (2 * d.L - 1) * rows * d.H);
  p.x_at = even(p.out_at + p.out_rows * d.H);
  p.gates_at = even(p.x_at + 2 * d.H);
  p.c_at = even(p.gates_at + rows);
  p.logits_at = even(p.c_at + d.L * p.units);
  p.keys_at = even(p.logits_at + d.V);
  p.p_at = even(p.keys_at + 2 * p.sort_n);
  p.floats = p.p_at + 2 * d.V;
  p.smem_bytes = p.floats * 4;
  if (p.smem_bytes > smem_limit) {
    p.why = "the weights of a block's units do not fit in shared memory";
    return p;
  }
  p.fits = true;
  return p;
}

// Layer l's staged gate rows in a block's weights: W_hh's at gate row r
// (q units + u), W_ih's (l >= 1) after them; layer 0 has no W_ih rows.
CADENZA_HD int64_t hh_rows_at(const Plan& p, const Dims& d, int64_t l) {
  return p.w_at + (l == 0 ? 0 : (2 * l - 1) * 4 * p.units * d.H);
}
CADENZA_HD int64_t ih_rows_at(const Plan& p, const Dims& d, int64_t l) {
  return hh_rows_at(p, d, l) + 4 * p.units * d.H;
}

// Lane `lane`'s part of a warp's dot product of w and x over K terms.
CADENZA_HD float lane_partial(const float* w, const float* x, int64_t K, int lane) {
  float acc = 0.f;
  for (int64_t k = lane; k < K; k += 32) acc = fmaf(w[k], x[k], acc);
  return acc;
}
// The warp's result as lane 0 holds it after the shuffle fold, on the host.
inline float warp_dot_host(const float* w, const float* x, int64_t K) {
  float part[32];
  for (int lane = 0; lane < 32; ++lane) part[lane] = lane_partial(w, x, K, lane);
  for (int off = 16; off > 0; off /= 2)
    for (int lane = 0; lane < off; ++lane) part[lane] += part[lane + off];
  return part[0];
}

// A gate's pre-activation: layer 0 adds the token's table entry to the
// recurrent sum; above it, the bias to the recurrent and input sums.
CADENZA_HD float gate_sum(int64_t l, float recurrent, float input, float table_or_bias) {
  return l == 0 ? recurrent + table_or_bias : (table_or_bias + recurrent) + input;
}

// One LSTM cell from its four pre-activations (i, f, g, o): kmath's formula.
CADENZA_HD void cell(float i, float f, float g, float o, float& c, float& h) {
  float gates[4] = {i, f, g, o};
  lstm_cell_forward(gates, 1, 0, c, c, h);
}

// ---- the draw: sample_token's, on sorted keys ----

// The order of a stable sort by logit, highest first, as one 64-bit key:
// the logit's bits mapped to an order-preserving unsigned and inverted, above
// the id. -0 sorts with +0, and a NaN last.
CADENZA_HD uint64_t sort_key(float x, int64_t i) {
  if (x == 0.f) x = 0.f;
  uint32_t bits;
#ifdef __CUDA_ARCH__
  bits = __float_as_uint(x);
#else
  __builtin_memcpy(&bits, &x, sizeof bits);
#endif
  bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  if (x != x) bits = 0;
  return (static_cast<uint64_t>(~bits) << 32) | static_cast<uint32_t>(i);
}
CADENZA_HD int64_t key_id(uint64_t key) { return static_cast<int64_t>(key & 0xffffffffu); }

// How many of the sorted logits the draw keeps before top-p: top_k of them
// (0: all).
CADENZA_HD int64_t kept(int64_t V, int64_t top_k) { return (top_k > 0 && top_k < V) ? top_k : V; }

// The weight of the i-th highest logit: exp(x / temperature - m), m the
// highest's x / temperature, in double.
CADENZA_HD double draw_weight(float x, double temperature, double m) { return std::exp(x / temperature - m); }

// The token drawn at uniform u from the weights p [keep] of the sorted keys
// (p is normalised in place): the top-p prefix (top_p < 1), then the
// cumulative search. In steps, so that the CUDA kernel can divide in
// parallel while the sums and searches stay in index order:
//   s = weight_sum(p, keep); p[i] /= s for i < keep;
//   if top_p < 1: keep = top_p_prefix(p, keep, top_p); s2 = weight_sum(p, keep); p[i] /= s2 for i < keep;
//   token = cumulative_pick(keys, p, keep, u).
CADENZA_HD double weight_sum(const double* p, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return s;
}
// The smallest prefix of the normalised weights whose mass reaches top_p.
CADENZA_HD int64_t top_p_prefix(const double* p, int64_t keep, double top_p) {
  double c = 0;
  int64_t n = 0;
  while (n < keep) {
    c += p[n++];
    if (c >= top_p) break;
  }
  return n;
}
CADENZA_HD int64_t cumulative_pick(const uint64_t* keys, const double* p, int64_t keep, double u) {
  double c = 0;
  for (int64_t i = 0; i < keep; ++i) {
    c += p[i];
    if (u < c) return key_id(keys[i]);
  }
  return key_id(keys[keep - 1]);
}
CADENZA_HD int64_t draw_sorted(const uint64_t* keys, double* p, int64_t keep, double top_p, double u) {
  const double s = weight_sum(p, keep);
  for (int64_t i = 0; i < keep; ++i) p[i] /= s;
  if (top_p < 1.0) {
    keep = top_p_prefix(p, keep, top_p);
    const double s2 = weight_sum(p, keep);
    for (int64_t i = 0; i < keep; ++i) p[i] /= s2;
  }
  return cumulative_pick(keys, p, keep, u);
}

// Greedy: the first largest logit, as std::max_element finds it.
CADENZA_HD int64_t first_largest(const float* logits, int64_t V) {
  int64_t best = 0;
  for (int64_t i = 1; i < V; ++i)
    if (logits[best] < logits[i]) best = i;
  return best;
}

}  // namespace cadenza::kmath::dec
