#pragma once
// WaveNet's fast generation as the persistent CUDA kernel runs it
// (kernels/cuda/wavenet_generate.cu), written as `__host__ __device__`
// pieces so the CPU tests run the very same arithmetic, in the kernel's
// order, against the CPU generator (kernels/cpu/wavenet_generate.h).
//
// The kernel, after nv-wavenet's persistent variant: one block per residual
// layer keeps that layer's weights in shared memory for the whole launch,
// a few head blocks keep a slice of the two output 1x1s each, and the
// blocks pass each sample along through small queues in global memory (a
// slot and a ready flag per message). Layer 0's block also draws each
// stream's next input from the last head's logits. Per sample and layer:
//   front:    the input (the table row of the drawn id, or the layer below's
//             residual) joins the layer's dilation queue; the current tap's
//             product finishes the gate sums, the gate, and the residual
//             1x1 -> published at once, so the next layer starts;
//   skip:     the skip 1x1 adds onto the skip sum of the layers below ->
//             published for the layer above (off the residual path);
//   next:     the past taps of the next sample, which only read the queue,
//             are summed while the other layers work.
// Every sum runs in the CPU generator's order (bias, then the taps oldest
// first, then the conditioning; the 1x1s onto the running residual and skip
// sums) with fused multiply-adds, as the CPU's vector loops compile, so the
// two give the same logits up to the gate's vectorised exp, and the same
// draws for the same uniforms.
//
// Weights are read as they are stored: f32, or under bf16 as pairs of input
// rows (row 2i in the low half of each 32-bit word, 2i + 1 in the high half,
// kernels/cpu/wavenet_generate.cpp's layout) multiplied high element first.
#include <algorithm>
#include <cstdint>

#include "kernels/math.h"

namespace cadenza::kmath::wg {

// Rows of a product over I inputs: I rows of f32 weights, or ceil(I/2) rows
// of bf16 pairs.
CADENZA_HD int64_t rows_of(int64_t I, bool bf16) { return bf16 ? (I + 1) / 2 : I; }

struct Dims {
  int64_t N = 0;  // streams
  int64_t R = 0, G = 0, S = 0, Q = 0, K = 2, cin = 0, L = 0;
  bool bf16 = false;
  CADENZA_HD int64_t H() const { return G / 2; }
  CADENZA_HD int64_t RS() const { return R + S; }
  // One layer's weight image, in words (a float, or a bf16 pair), input-major:
  // K taps of [rows(R)][G], the conditioning [rows(cin)][G], then the
  // residual and skip 1x1s side by side [rows(G/2)][R + S].
  CADENZA_HD int64_t tap_words() const { return rows_of(R, bf16) * G; }
  CADENZA_HD int64_t cond_offset() const { return K * tap_words(); }
  CADENZA_HD int64_t out_offset() const { return cond_offset() + rows_of(cin, bf16) * G; }
  CADENZA_HD int64_t layer_words() const { return out_offset() + rows_of(H(), bf16) * RS(); }
  // A layer's f32 biases: conv [G], residual [R], skip [S].
  CADENZA_HD int64_t bias_words() const { return G + R + S; }
  // The head's images: last1 [rows(S)][S], last3 [rows(S)][Q].
  CADENZA_HD int64_t head_rows() const { return rows_of(S, bf16); }
};

CADENZA_HD float round_bf16(float x) { return bf16_value(bf16_bits(x)); }
CADENZA_HD float pair_lo(uint32_t p) { return bf16_value(static_cast<uint16_t>(p & 0xffffu)); }
CADENZA_HD float pair_hi(uint32_t p) { return bf16_value(static_cast<uint16_t>(p >> 16)); }

// acc + sum_i x[i] w[i ld], i ascending, one rounding per term (fmaf).
CADENZA_HD float dot(float acc, const float* x, int64_t I, const float* w, int64_t ld) {
  for (int64_t i = 0; i < I; ++i) acc = fmaf(x[i], w[i * ld], acc);
  return acc;
}
// The same over bf16 pair rows: the inputs rounded to bf16 as they are read
// (an odd count's last pair has 0 on top), each pair's high element first.
// A product of two bf16 is exact in f32, so only the additions round.
CADENZA_HD float dot(float acc, const float* x, int64_t I, const uint32_t* w, int64_t ld) {
  for (int64_t p = 0; 2 * p < I; ++p) {
    const uint32_t wp = w[p * ld];
    const float lo = round_bf16(x[2 * p]), hi = 2 * p + 1 < I ? round_bf16(x[2 * p + 1]) : 0.f;
    acc = fmaf(hi, pair_hi(wp), acc);
    acc = fmaf(lo, pair_lo(wp), acc);
  }
  return acc;
}

// The first index of the largest logit (NaNs never win, as `>` says).
CADENZA_HD int64_t first_max(const float* logits, int64_t Q) {
  int64_t best = 0;
  for (int64_t q = 1; q < Q; ++q)
    if (logits[q] > logits[best]) best = q;
  return best;
}
// first_max split over `lanes` threads (the CUDA kernel's warp): each scans
// q = lane, lane + lanes, ... for its first largest number, the parts merge
// in any order (the larger value wins, then the lower index; a part with
// none loses), and first_max_of gives first_max's answer: 0 when
// logits[0] is NaN, as `>` never lets a later logit beat it.
struct MaxAt {
  float v = 0.f;
  int32_t q = -1;  // -1: no number seen (Q fits: the ids are int32)
};
CADENZA_HD MaxAt first_max_part(const float* logits, int64_t Q, int64_t lane, int64_t lanes) {
  MaxAt m;
  for (int64_t q = lane; q < Q; q += lanes) {
    const float v = logits[q];
    if (v == v && (m.q < 0 || v > m.v)) {
      m.v = v;
      m.q = static_cast<int32_t>(q);
    }
  }
  return m;
}
CADENZA_HD MaxAt first_max_merge(MaxAt a, MaxAt b) {
  if (b.q < 0) return a;
  if (a.q < 0) return b;
  return b.v > a.v || (b.v == a.v && b.q < a.q) ? b : a;
}
CADENZA_HD int64_t first_max_of(const float* logits, MaxAt m) {
  return m.q < 0 || !(logits[0] == logits[0]) ? 0 : m.q;
}

// softmax(logits / temperature)'s unnormalised weight of logit x, given the
// largest logit `top` and inv = 1 / temperature.
CADENZA_HD float draw_weight(float x, float top, float inv) { return fast_expf((x - top) * inv); }
// The index the inverse CDF of weights p[0, Q) picks at uniform u in [0, 1):
// the running sums in double, in index order.
CADENZA_HD int32_t draw(const float* p, int64_t Q, double u) {
  double total = 0;
  for (int64_t q = 0; q < Q; ++q) total += p[q];
  const double target = u * total;
  double acc = 0;
  for (int64_t q = 0; q < Q; ++q) {
    acc += p[q];
    if (target < acc) return static_cast<int32_t>(q);
  }
  return static_cast<int32_t>(Q - 1);
}

// Everything the blocks share, on the device for the kernel or in host
// memory for the CPU tests. W is float or uint32_t (bf16 pairs).
template <class W>
struct Ctx {
  Dims d;
  const W* layers = nullptr;        // [L][layer_words]
  const float* bias = nullptr;      // [L][G + R + S]
  const float* gate_bias = nullptr; // [L][N][G] (global conditioning) or null
  const int64_t* dilation = nullptr;  // [L]
  const int64_t* ring_at = nullptr;   // [L] where each layer's queue starts in `ring`
  float* ring = nullptr;            // per layer [(K-1) d + 1][N][R], the layer's past inputs
  const float* table = nullptr;     // [Q][R] first_conv's column per id, bias included
  const W* last1 = nullptr;         // [head_rows][S]
  const float* last1_b = nullptr;   // [S]
  const W* last3 = nullptr;         // [head_rows][Q]
  const float* last3_b = nullptr;   // [Q]
  // The queues: two slots per message (a sample's messages are all read
  // before any of the next sample's are written, so two are plenty).
  float* msg_h = nullptr;   // [L][2][N][R] each layer's residual output
  float* msg_s = nullptr;   // [L][2][N][S] the skip sum up to each layer
  float* head_b = nullptr;  // [2][N][S] relu(last1 relu(skip scale))
  float* logits = nullptr;  // [2][N][Q]
  int32_t* ids = nullptr;   // [N] each stream's current input
  const float* cond = nullptr;      // [steps][N][cin] or null
  const double* uniforms = nullptr; // [N][steps]
  int32_t* out = nullptr;           // [N][steps]
  float* logits_out = nullptr;      // [N][steps][Q] or null
  int64_t t0 = 0, steps = 0;  // the state's time at the launch's first sample, and how many
  double temperature = 1;
  float half = 0, scale = 0;  // sqrt(1/2), sqrt(1/L)

  CADENZA_HD int64_t slots(int64_t l) const { return (d.K - 1) * dilation[l] + 1; }
  // Layer l's queued input of time t, [N][R].
  CADENZA_HD float* past(int64_t l, int64_t t) const { return ring + ring_at[l] + (t % slots(l)) * d.N * d.R; }
  CADENZA_HD float* h_msg(int64_t l, int64_t s) const { return msg_h + ((l * 2 + s % 2) * d.N) * d.R; }
  CADENZA_HD float* s_msg(int64_t l, int64_t s) const { return msg_s + ((l * 2 + s % 2) * d.N) * d.S; }
  CADENZA_HD float* b_msg(int64_t s) const { return head_b + (s % 2) * d.N * d.S; }
  CADENZA_HD float* l_msg(int64_t s) const { return logits + (s % 2) * d.N * d.Q; }
};

// A block's shared scratch as a layer: x [N][R] this sample's input, zp
// [N][G] the gate sums of the bias and past taps, u [N][G/2] the gate.
struct LayerScratch {
  float* x;
  float* zp;
  float* u;
};

// Reads of another block's message: through L2 on the device (a slot is
// rewritten two samples later, and L1 is not coherent), plain on the host.
CADENZA_HD float load_msg(const float* p) {
#ifdef __CUDA_ARCH__
  return __ldcg(p);
#else
  return *p;
#endif
}

// ---- a residual layer's block ----
// Step s's part of the launch (time t0 + s); threads tid of nth split each
// loop, and the kernel puts a barrier between the calls.

// The input: the table row of each stream's id (layer 0) or the layer
// below's residual, into the queue and the scratch.
template <class W>
CADENZA_HD void layer_load(const Ctx<W>& c, int64_t l, int64_t s, LayerScratch sc, int tid, int nth) {
  const Dims& d = c.d;
  float* q = c.past(l, c.t0 + s);
  const float* below = l > 0 ? c.h_msg(l - 1, s) : nullptr;
  for (int64_t i = tid; i < d.N * d.R; i += nth) {
    const float v = below ? load_msg(below + i) : c.table[static_cast<int64_t>(c.ids[i / d.R]) * d.R + i % d.R];
    q[i] = v;
    sc.x[i] = v;
  }
}

// The gate sums' bias and past taps (k < K - 1) for time t: the start of
// each sum, as the CPU's z starts from the bias plus the class's gate bias
// and adds the taps oldest first; a tap before time 0 reads the full pass's
// zero padding and is left out.
template <class W>
CADENZA_HD void layer_past(const Ctx<W>& c, int64_t l, int64_t t, const W* w, LayerScratch sc, int tid, int nth) {
  const Dims& d = c.d;
  const float* b = c.bias + l * d.bias_words();
  const float* gb = c.gate_bias ? c.gate_bias + l * d.N * d.G : nullptr;
  for (int64_t i = tid; i < d.N * d.G; i += nth) {
    const int64_t n = i / d.G, o = i % d.G;
    float acc = b[o];
    if (gb) acc += gb[n * d.G + o];
    for (int64_t k = 0; k + 1 < d.K; ++k) {
      const int64_t back = (d.K - 1 - k) * c.dilation[l];
      if (back > t) continue;
      acc = dot(acc, c.past(l, t - back) + n * d.R, d.R, w + k * d.tap_words() + o, d.G);
    }
    sc.zp[i] = acc;
  }
}

// The current tap and the conditioning finish each gate sum, in place in
// zp: a thread per sum (both halves of the gate at once, so the chain of a
// step is R + cin terms, not twice that).
template <class W>
CADENZA_HD void layer_sums(const Ctx<W>& c, int64_t s, const W* w, LayerScratch sc, int tid, int nth) {
  const Dims& d = c.d;
  const W* cur = w + (d.K - 1) * d.tap_words();
  const W* cw = w + d.cond_offset();
  for (int64_t i = tid; i < d.N * d.G; i += nth) {
    const int64_t n = i / d.G, o = i % d.G;
    float acc = dot(sc.zp[i], sc.x + n * d.R, d.R, cur + o, d.G);
    if (c.cond) acc = dot(acc, c.cond + (s * d.N + n) * d.cin, d.cin, cw + o, d.G);
    sc.zp[i] = acc;
  }
}

// The gate of unit j: tanh(a) sigmoid(b) of sums j and G/2 + j.
CADENZA_HD void layer_gate(const Dims& d, LayerScratch sc, int tid, int nth) {
  const int64_t H = d.H();
  for (int64_t i = tid; i < d.N * H; i += nth) {
    const int64_t n = i / H, j = i % H;
    sc.u[i] = gate(sc.zp[n * d.G + j], sc.zp[n * d.G + H + j]);
  }
}

// The residual 1x1 onto the input: (x + out_w u + out_b) sqrt(1/2), the
// next layer's input.
template <class W>
CADENZA_HD void layer_residual(const Ctx<W>& c, int64_t l, int64_t s, const W* w, LayerScratch sc, int tid,
                               int nth) {
  const Dims& d = c.d;
  const int64_t H = d.H();
  const float* ob = c.bias + l * d.bias_words() + d.G;
  float* h = c.h_msg(l, s);
  for (int64_t i = tid; i < d.N * d.R; i += nth) {
    const int64_t n = i / d.R, r = i % d.R;
    const float acc = dot(sc.x[i], sc.u + n * H, H, w + d.out_offset() + r, d.RS());
    h[i] = (acc + ob[r]) * c.half;
  }
}

// The skip 1x1 onto the skip sum of the layers below (0 under layer 0).
template <class W>
CADENZA_HD void layer_skip(const Ctx<W>& c, int64_t l, int64_t s, const W* w, LayerScratch sc, int tid, int nth) {
  const Dims& d = c.d;
  const int64_t H = d.H();
  const float* sb = c.bias + l * d.bias_words() + d.G + d.R;
  const float* below = l > 0 ? c.s_msg(l - 1, s) : nullptr;
  float* out = c.s_msg(l, s);
  for (int64_t i = tid; i < d.N * d.S; i += nth) {
    const int64_t n = i / d.S, j = i % d.S;
    const float acc = dot(below ? load_msg(below + i) : 0.f, sc.u + n * H, H, w + d.out_offset() + d.R + j, d.RS());
    out[i] = acc + sb[j];
  }
}

// ---- the head's blocks ----
// The columns [c0, c1) of a head block `b` of `nb` over `cols` columns.
CADENZA_HD int64_t share_begin(int64_t cols, int64_t b, int64_t nb) { return cols * b / nb; }

// a = relu(skip sqrt(1/L)) of every stream into a [N][S].
template <class W>
CADENZA_HD void head_load_skip(const Ctx<W>& c, int64_t s, float* a, int tid, int nth) {
  const float* sk = c.s_msg(c.d.L - 1, s);
  for (int64_t i = tid; i < c.d.N * c.d.S; i += nth) {
    const float v = load_msg(sk + i) * c.scale;
    a[i] = v > 0.f ? v : 0.f;
  }
}
// Columns [c0, c1) of relu(last1 a + b1): w holds them at row stride ld
// (the slice in shared memory, or the whole image with w = last1 + c0).
template <class W>
CADENZA_HD void head_last1(const Ctx<W>& c, int64_t s, const float* a, int64_t c0, int64_t c1, const W* w,
                           int64_t ld, int tid, int nth) {
  const Dims& d = c.d;
  const int64_t C = c1 - c0;
  float* b = c.b_msg(s);
  for (int64_t i = tid; i < d.N * C; i += nth) {
    const int64_t n = i / C, j = i % C;
    const float acc = dot(c.last1_b[c0 + j], a + n * d.S, d.S, w + j, ld);
    b[n * d.S + c0 + j] = acc > 0.f ? acc : 0.f;
  }
}
template <class W>
CADENZA_HD void head_load_b(const Ctx<W>& c, int64_t s, float* b, int tid, int nth) {
  const float* src = c.b_msg(s);
  for (int64_t i = tid; i < c.d.N * c.d.S; i += nth) b[i] = load_msg(src + i);
}
// Columns [q0, q1) of the logits, last3 b + b3.
template <class W>
CADENZA_HD void head_last3(const Ctx<W>& c, int64_t s, const float* b, int64_t q0, int64_t q1, const W* w,
                           int64_t ld, int tid, int nth) {
  const Dims& d = c.d;
  const int64_t C = q1 - q0;
  float* lg = c.l_msg(s);
  for (int64_t i = tid; i < d.N * C; i += nth) {
    const int64_t n = i / C, j = i % C;
    const float v = dot(c.last3_b[q0 + j], b + n * d.S, d.S, w + j, ld);
    lg[n * d.Q + q0 + j] = v;
    if (c.logits_out) c.logits_out[(n * c.steps + s) * d.Q + q0 + j] = v;
  }
}

// Stream n's draw at step s from the logits in l_msg(s) (read into
// `row` [Q] first), with p [Q] scratch: the index the CPU generator's
// wavenet_sample picks for the same uniform.
template <class W>
CADENZA_HD int32_t sample_stream(const Ctx<W>& c, int64_t s, int64_t n, const float* row, float* p) {
  const int64_t Q = c.d.Q;
  const int64_t best = first_max(row, Q);
  int32_t id = static_cast<int32_t>(best);
  if (c.temperature > 0) {
    const float inv = static_cast<float>(1.0 / c.temperature), top = row[best];
    for (int64_t q = 0; q < Q; ++q) p[q] = draw_weight(row[q], top, inv);
    id = draw(p, Q, c.uniforms[n * c.steps + s]);
  }
  c.out[n * c.steps + s] = id;
  c.ids[n] = id;
  return id;
}

// ---- the launch's shape ----
// Blocks: L layers, then head1 blocks (columns of last_conv_layers.1), then
// head3 blocks (columns of .3), all resident at once (the kernel is
// launched cooperatively, so a grid that cannot be is refused, never hung).
struct Plan {
  bool fits = false;  // false: too many layers or streams for the device
  int64_t head1 = 0, head3 = 0, blocks = 0, threads = 256;
  bool weights_in_smem = false;  // else read from global memory (L2)
  int64_t weight_bytes = 0;      // the largest block's weights, 16-byte aligned
  int64_t scratch_floats = 0;    // the largest block's scratch
  int64_t smem_bytes = 0;        // dynamic shared memory per block
};

// A layer block's scratch: x, zp, u, then (layer 0, the sampler) a logits
// row and its weights per warp.
inline int64_t layer_scratch_floats(const Dims& d, int64_t threads) {
  return d.N * (d.R + d.G + d.H()) + 2 * (threads / 32) * d.Q;
}

// For a device of `sms` multiprocessors and `smem_limit` bytes of shared
// memory a block may opt into; `cols` columns of the head per head block.
inline Plan plan(const Dims& d, int64_t sms, int64_t smem_limit, int64_t cols = 32, int64_t threads = 256) {
  Plan p;
  p.threads = threads;
  if (d.L < 1 || d.N < 1 || cols < 1) return p;
  auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  p.head1 = ceil_div(d.S, cols);
  p.head3 = ceil_div(d.Q, cols);
  // Fewer, wider head blocks when the layers leave too few multiprocessors.
  while (d.L + p.head1 + p.head3 > sms && (p.head1 > 1 || p.head3 > 1)) {
    if (p.head1 >= p.head3 && p.head1 > 1)
      --p.head1;
    else
      --p.head3;
  }
  p.blocks = d.L + p.head1 + p.head3;
  if (p.blocks > sms) return p;
  auto align16 = [](int64_t b) { return (b + 15) / 16 * 16; };
  const int64_t hr = d.head_rows();
  const int64_t wmax = std::max({d.layer_words(), hr * ceil_div(d.S, p.head1), hr * ceil_div(d.Q, p.head3)});
  p.weight_bytes = align16(wmax * 4);
  p.scratch_floats = std::max(layer_scratch_floats(d, threads), d.N * d.S);
  const int64_t scratch_bytes = p.scratch_floats * 4;
  if (scratch_bytes > smem_limit) return p;
  p.weights_in_smem = p.weight_bytes + scratch_bytes <= smem_limit;
  p.smem_bytes = (p.weights_in_smem ? p.weight_bytes : 0) + scratch_bytes;
  p.fits = true;
  return p;
}

}  // namespace cadenza::kmath::wg
