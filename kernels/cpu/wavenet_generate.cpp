#include "kernels/cpu/wavenet_generate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/cpu/simd.h"
#include "kernels/cpu/simd_math.h"
#include "kernels/math.h"

#include <omp.h>
#if defined(__AVX512BF16__) && defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace cadenza::kernels {

namespace {

constexpr int kLanes = kSimdLanes;
using vec = fvec;  // kernels/cpu/simd.h

// One input of a product: rows x[n * ldx + i], i < I, against the weight
// rows w[i * ldw + m] (input-major, as packed below), or under bf16 the pair
// rows wh[p * ldw + m] holding rows 2p and 2p + 1.
struct Seg {
  const float* x;
  int64_t ldx, I;
  const float* w;
  const uint32_t* wh = nullptr;
};

// Y[n, m .. m + V vectors) += sum over the inputs of X[n, :] W[:, m ..] for
// NB rows, with the accumulators in registers across every input: each
// weight vector is loaded once for all the rows.
template <int NB, int V>
void tile(int nseg, const Seg* seg, int64_t m, int64_t ldw, float* Y, int64_t ldy) {
  vec acc[NB][V];
  for (int n = 0; n < NB; ++n)
    for (int v = 0; v < V; ++v) acc[n][v] = load_u(Y + n * ldy + m + v * kLanes);
  for (int s = 0; s < nseg; ++s) {
    const float* X = seg[s].x;
    const int64_t ldx = seg[s].ldx;
    const float* W = seg[s].w + m;
    for (int64_t i = 0; i < seg[s].I; ++i) {
      vec wv[V];
      for (int v = 0; v < V; ++v) wv[v] = load_u(W + i * ldw + v * kLanes);
      for (int n = 0; n < NB; ++n) {
        const float x = X[n * ldx + i];  // scalar * vector: a broadcast (vec{} + x would add 0.0 first)
        for (int v = 0; v < V; ++v) acc[n][v] += x * wv[v];
      }
    }
  }
  for (int n = 0; n < NB; ++n)
    for (int v = 0; v < V; ++v) store_u(Y + n * ldy + m + v * kLanes, acc[n][v]);
}

// The widest column tile for NB rows that keeps accumulators, weight vectors
// and a broadcast in the 16 (AVX2) or 32 (AVX-512) vector registers: one row
// needs 8 accumulators to cover the FMA latency.
template <int NB> constexpr int widest() {
  if (NB == 1) return 8;
  if (NB == 2) return 4;
  return kLanes == 16 ? 4 : 3;
}

// NB rows, columns [m, M).
template <int NB>
void rows(int nseg, const Seg* seg, int64_t m, int64_t M, int64_t ldw, float* Y, int64_t ldy) {
  constexpr int V = widest<NB>();
  for (; m + V * kLanes <= M; m += V * kLanes) tile<NB, V>(nseg, seg, m, ldw, Y, ldy);
  if constexpr (V > 4)
    for (; m + 4 * kLanes <= M; m += 4 * kLanes) tile<NB, 4>(nseg, seg, m, ldw, Y, ldy);
  for (; m + 2 * kLanes <= M; m += 2 * kLanes) tile<NB, 2>(nseg, seg, m, ldw, Y, ldy);
  for (; m + kLanes <= M; m += kLanes) tile<NB, 1>(nseg, seg, m, ldw, Y, ldy);
  for (; m < M; ++m)  // columns past the last whole vector
    for (int n = 0; n < NB; ++n) {
      float acc = Y[n * ldy + m];
      for (int s = 0; s < nseg; ++s)
        for (int64_t i = 0; i < seg[s].I; ++i) acc += seg[s].x[n * seg[s].ldx + i] * seg[s].w[i * ldw + m];
      Y[n * ldy + m] = acc;
    }
}

// Y[N, M] += sum over the inputs of X_s[N, I_s] W_s[I_s, M], in blocks of
// up to four rows (taking the columns in chunks so a second block finds the
// weights in L1 measured no faster: L2 holds a layer's weights).
// nseg <= kMaxSegs.
constexpr int kMaxSegs = 16;
void gemm_f32(int64_t N, int nseg, const Seg* seg, int64_t M, int64_t ldw, float* Y, int64_t ldy) {
  Seg at[kMaxSegs];
  for (int64_t n = 0; n < N;) {
    const int64_t nb = std::min<int64_t>(4, N - n);
    for (int s = 0; s < nseg; ++s) at[s] = {seg[s].x + n * seg[s].ldx, seg[s].ldx, seg[s].I, seg[s].w};
    float* y = Y + n * ldy;
    switch (nb) {
      case 4: rows<4>(nseg, at, 0, M, ldw, y, ldy); break;
      case 3: rows<3>(nseg, at, 0, M, ldw, y, ldy); break;
      case 2: rows<2>(nseg, at, 0, M, ldw, y, ldy); break;
      default: rows<1>(nseg, at, 0, M, ldw, y, ldy); break;
    }
    n += nb;
  }
}

// ---- bf16 products: pairs of input rows, summed into f32 ----

#if defined(__AVX512BF16__) && defined(__AVX512F__)
constexpr bool kNativeBf16 = true;
#else
constexpr bool kNativeBf16 = false;
#endif
typedef uint32_t uvec __attribute__((vector_size(kSimdLanes * sizeof(uint32_t))));
// A vector of weight pairs by value (load_u's form): a memcpy into an array
// element instead left the array on the stack, written as two 32-byte
// halves and read back as one 64-byte vector, which the Xeon's store
// forwarding does not serve (30% of W3x8_bf16 there).
inline uvec load_words(const uint32_t* p) {
  uvec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline uint32_t bf16_pair(float lo, float hi) {
  return static_cast<uint32_t>(kmath::bf16_bits(lo)) | static_cast<uint32_t>(kmath::bf16_bits(hi)) << 16;
}
inline float pair_lo(uint32_t p) { return kmath::bf16_value(static_cast<uint16_t>(p & 0xffffu)); }
inline float pair_hi(uint32_t p) { return kmath::bf16_value(static_cast<uint16_t>(p >> 16)); }

// x[0, I) rounded to bf16 (kmath::bf16_bits, a vector at a time) as pairs
// out[0, ceil(I/2)): element 2p in the low half of out[p], 2p + 1 in the
// high half, which is 0 past an odd I.
typedef uint16_t hvec __attribute__((vector_size(kSimdLanes * sizeof(uint16_t))));
void to_pairs(const float* x, int64_t I, uint32_t* out) {
  char* bytes = reinterpret_cast<char*>(out);
  int64_t i = 0;
  for (; i + kLanes <= I; i += kLanes) {
    uvec u;
    std::memcpy(&u, x + i, sizeof u);
    const uvec rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const hvec h = __builtin_convertvector((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : rounded, hvec);
    std::memcpy(bytes + i * 2, &h, sizeof h);
  }
  for (; i < I; ++i) {
    const uint16_t h = kmath::bf16_bits(x[i]);
    std::memcpy(bytes + i * 2, &h, 2);
  }
  if (I % 2) std::memset(bytes + I * 2, 0, 2);
}

// One input of a bf16 product: rows x[n * P + p] of P input pairs against
// the weight pair rows w[p * ldw + m].
struct PairSeg {
  const uint32_t* x;
  int64_t P;
  const uint32_t* w;
};

// tile() on pairs: each 32-bit lane of a weight vector holds two input rows
// of one column, and each row's input pair is broadcast whole. The high
// element is added first, then the low one, as vdpbf16ps does; a product of
// two bf16 is exact in f32, so only the two additions round, either way.
template <int NB, int V>
void tile_pairs(int nseg, const PairSeg* seg, int64_t m, int64_t ldw, float* Y, int64_t ldy) {
  vec acc[NB][V];
  for (int n = 0; n < NB; ++n)
    for (int v = 0; v < V; ++v) acc[n][v] = load_u(Y + n * ldy + m + v * kLanes);
  for (int s = 0; s < nseg; ++s) {
    const uint32_t* X = seg[s].x;
    const int64_t P = seg[s].P;
    const uint32_t* W = seg[s].w + m;
    for (int64_t p = 0; p < P; ++p) {
      uvec wv[V];
      for (int v = 0; v < V; ++v) wv[v] = load_words(W + p * ldw + v * kLanes);
#if defined(__AVX512BF16__) && defined(__AVX512F__)
      for (int n = 0; n < NB; ++n) {
        const __m512i xb = _mm512_set1_epi32(static_cast<int>(X[n * P + p]));
        for (int v = 0; v < V; ++v)
          acc[n][v] = (vec)_mm512_dpbf16_ps((__m512)acc[n][v], (__m512bh)wv[v], (__m512bh)xb);
      }
#else
      vec lo[V], hi[V];
      for (int v = 0; v < V; ++v) {
        lo[v] = (vec)(wv[v] << 16);
        hi[v] = (vec)(wv[v] & 0xffff0000u);
      }
      for (int n = 0; n < NB; ++n) {
        const uint32_t xp = X[n * P + p];
        const float xl = pair_lo(xp), xh = pair_hi(xp);
        for (int v = 0; v < V; ++v) {
          acc[n][v] += xh * hi[v];
          acc[n][v] += xl * lo[v];
        }
      }
#endif
    }
  }
  for (int n = 0; n < NB; ++n)
    for (int v = 0; v < V; ++v) store_u(Y + n * ldy + m + v * kLanes, acc[n][v]);
}

// Without vdpbf16ps a tile also holds each weight vector widened to two.
template <int NB> constexpr int widest_pairs() {
  if (kNativeBf16) return widest<NB>();
  if (NB == 1) return kLanes == 16 ? 8 : 4;
  return kLanes == 16 ? 4 : 2;
}

template <int NB>
void rows_pairs(int nseg, const PairSeg* seg, int64_t m, int64_t M, int64_t ldw, float* Y, int64_t ldy) {
  constexpr int V = widest_pairs<NB>();
  for (; m + V * kLanes <= M; m += V * kLanes) tile_pairs<NB, V>(nseg, seg, m, ldw, Y, ldy);
  if constexpr (V > 4)
    for (; m + 4 * kLanes <= M; m += 4 * kLanes) tile_pairs<NB, 4>(nseg, seg, m, ldw, Y, ldy);
  if constexpr (V > 2)
    for (; m + 2 * kLanes <= M; m += 2 * kLanes) tile_pairs<NB, 2>(nseg, seg, m, ldw, Y, ldy);
  for (; m + kLanes <= M; m += kLanes) tile_pairs<NB, 1>(nseg, seg, m, ldw, Y, ldy);
  for (; m < M; ++m)
    for (int n = 0; n < NB; ++n) {
      float acc = Y[n * ldy + m];
      for (int s = 0; s < nseg; ++s)
        for (int64_t p = 0; p < seg[s].P; ++p) {
          const uint32_t x = seg[s].x[n * seg[s].P + p], w = seg[s].w[p * ldw + m];
          acc += pair_hi(x) * pair_hi(w);
          acc += pair_lo(x) * pair_lo(w);
        }
      Y[n * ldy + m] = acc;
    }
}

// gemm_f32 with bf16 weights: each input row is rounded to bf16 pairs once
// (an odd count pairs its last element with 0), then blocks of up to four rows.
void gemm_pairs(int64_t N, int nseg, const Seg* seg, int64_t M, int64_t ldw, float* Y, int64_t ldy) {
  thread_local std::vector<uint32_t> xs;
  size_t total = 0;
  for (int s = 0; s < nseg; ++s) total += static_cast<size_t>(N * ((seg[s].I + 1) / 2));
  if (xs.size() < total) xs.resize(total);
  PairSeg ps[kMaxSegs];
  uint32_t* at = xs.data();
  for (int s = 0; s < nseg; ++s) {
    const int64_t I = seg[s].I, P = (I + 1) / 2;
    for (int64_t n = 0; n < N; ++n) to_pairs(seg[s].x + n * seg[s].ldx, I, at + n * P);
    ps[s] = {at, P, seg[s].wh};
    at += N * P;
  }
  PairSeg blk[kMaxSegs];
  for (int64_t n = 0; n < N;) {
    const int64_t nb = std::min<int64_t>(4, N - n);
    for (int s = 0; s < nseg; ++s) blk[s] = {ps[s].x + n * ps[s].P, ps[s].P, ps[s].w};
    float* y = Y + n * ldy;
    switch (nb) {
      case 4: rows_pairs<4>(nseg, blk, 0, M, ldw, y, ldy); break;
      case 3: rows_pairs<3>(nseg, blk, 0, M, ldw, y, ldy); break;
      case 2: rows_pairs<2>(nseg, blk, 0, M, ldw, y, ldy); break;
      default: rows_pairs<1>(nseg, blk, 0, M, ldw, y, ldy); break;
    }
    n += nb;
  }
}

// The product of the segments' precision (all of one product's share it).
void gemm(int64_t N, int nseg, const Seg* seg, int64_t M, int64_t ldw, float* Y, int64_t ldy) {
  if (seg[0].wh)
    gemm_pairs(N, nseg, seg, M, ldw, Y, ldy);
  else
    gemm_f32(N, nseg, seg, M, ldw, Y, ldy);
}

// Input-major rows [I][M] (row stride ld) as pair rows [ceil(I/2)][M],
// appended to out.
void pack_pairs(const float* w, int64_t I, int64_t M, int64_t ld, std::vector<uint32_t>& out) {
  for (int64_t p = 0; p < (I + 1) / 2; ++p)
    for (int64_t m = 0; m < M; ++m)
      out.push_back(bf16_pair(w[2 * p * ld + m], 2 * p + 1 < I ? w[(2 * p + 1) * ld + m] : 0.f));
}

// W [M][K] row-major (a layer's weight) -> [K][M], written at dst with row stride ld.
void transpose_into(const float* W, int64_t M, int64_t K, float* dst, int64_t ld) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) dst[k * ld + m] = W[m * K + k];
}

// u[j] = gate(z[j], z[U + j]) for j < U.
void gate_row(const float* z, int64_t U, float* u) {
  int64_t j = 0;
  for (; j + kLanes <= U; j += kLanes) store_u(u + j, vgate(load_u(z + j), load_u(z + U + j)));
  for (; j < U; ++j) u[j] = kmath::gate(z[j], z[U + j]);
}

}  // namespace

WaveNetGenState::WaveNetGenState(const WaveNetGenWeights& w, int64_t streams, int threads, WaveNetGenSplit split,
                                 WaveNetGenPrecision precision)
    : N_(streams), bf16_(precision == WaveNetGenPrecision::bf16) {
  if (streams < 1) throw std::invalid_argument("wavenet generation: streams must be >= 1");
  const int64_t R = w.R, G = w.G, H = w.G / 2, S = w.S, Q = w.Q, KR = w.K * w.R, IN = KR + w.cin;
  if (w.K + 1 > kMaxSegs)
    throw std::invalid_argument("wavenet generation: kernel size " + std::to_string(w.K) + " is above " +
                                std::to_string(kMaxSegs - 1));
  int nt = threads > 0 ? threads : (omp_in_parallel() ? 1 : omp_get_max_threads());
  by_streams_ = split == WaveNetGenSplit::streams ||
                (split == WaveNetGenSplit::automatic && (nt == 1 || streams >= kWaveNetStreamsPerThread * nt));
  nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(nt, by_streams_ ? streams : H)));
  // The whole input products, input-major, from which each share takes its units.
  std::vector<std::vector<float>> in_all;
  for (const auto& l : w.layers) {
    slots_.push_back((w.K - 1) * l.dilation + 1);
    // Row k R + r: tap k of input channel r, for every gate channel.
    std::vector<float> in(static_cast<size_t>(IN * G));
    for (int64_t o = 0; o < G; ++o)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t k = 0; k < w.K; ++k) in[(k * R + r) * G + o] = l.conv_w[(o * R + r) * w.K + k];
    if (l.cond_w) transpose_into(l.cond_w, G, w.cin, in.data() + KR * G, G);
    in_all.push_back(std::move(in));
    std::vector<float> out(static_cast<size_t>(H * (R + S)));
    transpose_into(l.out_w, R, H, out.data(), R + S);
    transpose_into(l.skip_w, S, H, out.data() + R, R + S);
    out_w_.push_back(std::move(out));
  }
  std::vector<float> last1(static_cast<size_t>(S * S)), last3(static_cast<size_t>(S * Q));
  transpose_into(w.last1_w, S, S, last1.data(), S);
  transpose_into(w.last3_w, Q, S, last3.data(), Q);
  auto columns = [](const std::vector<float>& src, int64_t rows, int64_t ld, int64_t c0, int64_t c1) {
    std::vector<float> out(static_cast<size_t>(rows * (c1 - c0)));
    for (int64_t r = 0; r < rows; ++r)
      std::copy(src.begin() + r * ld + c0, src.begin() + r * ld + c1, out.begin() + r * (c1 - c0));
    return out;
  };
  const int nshares = by_streams_ ? 1 : nt;
  shares_.resize(static_cast<size_t>(nshares));
  for (int t = 0; t < nshares; ++t) {
    Share& sh = shares_[t];
    sh.j0 = H * t / nshares;
    sh.j1 = H * (t + 1) / nshares;
    sh.c0 = S * t / nshares;
    sh.c1 = S * (t + 1) / nshares;
    sh.q0 = Q * t / nshares;
    sh.q1 = Q * (t + 1) / nshares;
    const int64_t U = sh.j1 - sh.j0;
    for (size_t l = 0; l < w.layers.size(); ++l) {
      std::vector<float> in(static_cast<size_t>(IN * 2 * U)), bias(static_cast<size_t>(2 * U));
      for (int64_t i = 0; i < IN; ++i)
        for (int64_t j = 0; j < U; ++j) {
          in[i * 2 * U + j] = in_all[l][i * G + sh.j0 + j];
          in[i * 2 * U + U + j] = in_all[l][i * G + H + sh.j0 + j];
        }
      for (int64_t j = 0; j < U; ++j) {
        bias[j] = w.layers[l].conv_b[sh.j0 + j];
        bias[U + j] = w.layers[l].conv_b[H + sh.j0 + j];
      }
      if (bf16_) {
        std::vector<uint32_t> h, o;
        for (int64_t k = 0; k < w.K; ++k) pack_pairs(in.data() + k * R * 2 * U, R, 2 * U, 2 * U, h);
        if (w.cin > 0) pack_pairs(in.data() + KR * 2 * U, w.cin, 2 * U, 2 * U, h);
        pack_pairs(out_w_[l].data() + sh.j0 * (R + S), U, R + S, R + S, o);
        sh.in_h.push_back(std::move(h));
        sh.out_h.push_back(std::move(o));
        in.clear();
      }
      sh.in_w.push_back(std::move(in));
      sh.in_b.push_back(std::move(bias));
    }
    sh.last1_w = columns(last1, S, S, sh.c0, sh.c1);
    sh.last3_w = columns(last3, S, Q, sh.q0, sh.q1);
    if (bf16_) {
      pack_pairs(sh.last1_w.data(), S, sh.c1 - sh.c0, sh.c1 - sh.c0, sh.last1_h);
      pack_pairs(sh.last3_w.data(), S, sh.q1 - sh.q0, sh.q1 - sh.q0, sh.last3_h);
      sh.last1_w.clear();
      sh.last3_w.clear();
    }
  }
  if (bf16_) out_w_.clear();  // each share holds its rows
  parts_.resize(static_cast<size_t>(nt));
  for (int t = 0; t < nt; ++t) {
    Part& p = parts_[t];
    p.n0 = by_streams_ ? N_ * t / nt : 0;
    p.n1 = by_streams_ ? N_ * (t + 1) / nt : N_;
    p.share = &shares_[by_streams_ ? 0 : t];
    const int64_t NB = p.n1 - p.n0, U = p.share->j1 - p.share->j0;
    for (size_t l = 0; l < w.layers.size(); ++l) p.rings.emplace_back(static_cast<size_t>(slots_[l] * NB * R), 0.f);
    p.hs.assign(static_cast<size_t>(NB * (R + S)), 0.f);
    p.z.assign(static_cast<size_t>(NB * 2 * U), 0.f);
    p.u.assign(static_cast<size_t>(NB * U), 0.f);
    p.a.assign(static_cast<size_t>(NB * S), 0.f);
    p.head.assign(static_cast<size_t>(NB * (p.share->c1 - p.share->c0)), 0.f);
  }
  if (!by_streams_) {
    for (auto& y : y_) y.assign(static_cast<size_t>(nt * N_ * (R + S)), 0.f);
    b_.assign(static_cast<size_t>(N_ * S), 0.f);
  }
}

void WaveNetGenState::step_part(const WaveNetGenWeights& w, int t, int64_t t_now, const int32_t* ids,
                                const float* cond, float* logits) {
  const int64_t N = N_, R = w.R, G = w.G, H = w.G / 2, S = w.S, Q = w.Q;
  const int64_t KR = w.K * R, RS = R + S;
  const int nt = threads();
  const bool by_streams = by_streams_, bf16 = bf16_;
  const int64_t PR = (R + 1) / 2;  // pair rows per tap under bf16
  const float half = static_cast<float>(std::sqrt(0.5));
  const float scale = static_cast<float>(std::sqrt(1.0 / static_cast<double>(w.layers.size())));
  Part& p = parts_[t];
  const Share& sh = *p.share;
  const int64_t n0 = p.n0, NB = p.n1 - p.n0, U = sh.j1 - sh.j0;
  float* hs = p.hs.data();
  for (int64_t n = 0; n < NB; ++n) {
    std::memcpy(hs + n * RS, w.input_table + ids[n0 + n] * R, R * sizeof(float));
    std::fill(hs + n * RS + R, hs + (n + 1) * RS, 0.f);
  }
  Seg seg[kMaxSegs];
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const WaveNetGenLayer& L = w.layers[l];
    const int64_t slots = slots_[l];
    float* ring = p.rings[l].data();
    // This step's input joins the queue; tap k reads (K-1-k) * d steps
    // back, and a tap before the start reads the full pass's zero padding,
    // so it adds nothing and is left out.
    float* cur = ring + (t_now % slots) * NB * R;
    for (int64_t n = 0; n < NB; ++n) std::memcpy(cur + n * R, hs + n * RS, R * sizeof(float));
    int nseg = 0;
    const float* in_w = sh.in_w[l].data();
    const uint32_t* in_h = bf16 ? sh.in_h[l].data() : nullptr;
    for (int64_t k = 0; k < w.K; ++k) {
      const int64_t back = (w.K - 1 - k) * L.dilation;
      if (back > t_now) continue;
      const float* x = ring + ((t_now - back) % slots) * NB * R;
      seg[nseg++] = bf16 ? Seg{x, R, R, nullptr, in_h + k * PR * 2 * U} : Seg{x, R, R, in_w + k * R * 2 * U};
    }
    if (L.cond_w)
      seg[nseg++] = bf16 ? Seg{cond + n0 * w.cin, w.cin, w.cin, nullptr, in_h + w.K * PR * 2 * U}
                         : Seg{cond + n0 * w.cin, w.cin, w.cin, in_w + KR * 2 * U};
    // This share's gate units: z = bias + x W_in (a units, then b units).
    float* z = p.z.data();
    for (int64_t n = 0; n < NB; ++n) {
      std::memcpy(z + n * 2 * U, sh.in_b[l].data(), 2 * U * sizeof(float));
      if (L.gate_bias) {
        const float* gb = L.gate_bias + (n0 + n) * G;
        for (int64_t j = 0; j < U; ++j) {
          z[n * 2 * U + j] += gb[sh.j0 + j];
          z[n * 2 * U + U + j] += gb[H + sh.j0 + j];
        }
      }
    }
    gemm(NB, nseg, seg, 2 * U, 2 * U, z, 2 * U);
    float* u = p.u.data();
    for (int64_t n = 0; n < NB; ++n) gate_row(z + n * 2 * U, U, u + n * U);
    // The residual and skip 1x1s of these units, both in one product.
    const Seg useg = bf16 ? Seg{u, U, U, nullptr, sh.out_h[l].data()} : Seg{u, U, U, out_w_[l].data() + sh.j0 * RS};
    if (by_streams) {
      gemm(NB, 1, &useg, RS, RS, hs, RS);  // onto [h | skip]
      for (int64_t n = 0; n < NB; ++n) {
        float* row = hs + n * RS;
        for (int64_t r = 0; r < R; ++r) row[r] = (row[r] + L.out_b[r]) * half;
        for (int64_t j = 0; j < S; ++j) row[R + j] += L.skip_b[j];
      }
    } else {
      float* y = y_[l % 2].data() + t * N * RS;
      std::fill(y, y + N * RS, 0.f);
      gemm(N, 1, &useg, RS, RS, y, RS);
#pragma omp barrier
      const float* ys = y_[l % 2].data();
      for (int64_t n = 0; n < N; ++n) {
        float* row = hs + n * RS;
        for (int64_t r = 0; r < R; ++r) row[r] += L.out_b[r];
        for (int64_t j = 0; j < S; ++j) row[R + j] += L.skip_b[j];
        for (int q = 0; q < nt; ++q) {
          const float* yq = ys + (q * N + n) * RS;
          for (int64_t c = 0; c < RS; ++c) row[c] += yq[c];
        }
        for (int64_t r = 0; r < R; ++r) row[r] *= half;
      }
    }
  }
  // The head: relu, last1 (this share's columns), relu, last3 (its columns).
  float* a = p.a.data();
  for (int64_t n = 0; n < NB; ++n)
    for (int64_t j = 0; j < S; ++j) a[n * S + j] = std::max(0.f, hs[n * RS + R + j] * scale);
  const int64_t C = sh.c1 - sh.c0, QC = sh.q1 - sh.q0;
  float* head = p.head.data();
  for (int64_t n = 0; n < NB; ++n) std::memcpy(head + n * C, w.last1_b + sh.c0, C * sizeof(float));
  const Seg aseg{a, S, S, sh.last1_w.data(), bf16 ? sh.last1_h.data() : nullptr};
  if (C > 0) gemm(NB, 1, &aseg, C, C, head, C);
  float* b = by_streams ? head : b_.data();  // [NB][S]
  for (int64_t n = 0; n < NB; ++n)
    for (int64_t c = 0; c < C; ++c) b[n * S + sh.c0 + c] = std::max(0.f, head[n * C + c]);
  if (!by_streams) {
#pragma omp barrier
  }
  float* out = logits + n0 * Q + sh.q0;
  for (int64_t n = 0; n < NB; ++n) std::memcpy(out + n * Q, w.last3_b + sh.q0, QC * sizeof(float));
  const Seg bseg{b, S, S, sh.last3_w.data(), bf16 ? sh.last3_h.data() : nullptr};
  if (QC > 0) gemm(NB, 1, &bseg, QC, QC, out, Q);
}

namespace {

void check_ids(const int32_t* ids, int64_t n0, int64_t n1, int64_t Q) {
  for (int64_t n = n0; n < n1; ++n)
    if (ids[n] < 0 || ids[n] >= Q)
      throw std::out_of_range("wavenet generation: input id " + std::to_string(ids[n]) + " of stream " +
                              std::to_string(n) + " is outside the " + std::to_string(Q) + " classes");
}

}  // namespace

void wavenet_generate_step(const WaveNetGenWeights& w, WaveNetGenState& s, const int32_t* ids, const float* cond,
                           float* logits) {
  check_ids(ids, 0, s.N_, w.Q);
  const int nt = s.threads();
  const int64_t t_now = s.t_;
#pragma omp parallel num_threads(nt) if (nt > 1)
  s.step_part(w, nt > 1 ? omp_get_thread_num() : 0, t_now, ids, cond, logits);
  ++s.t_;
}

void wavenet_generate_run(const WaveNetGenWeights& w, WaveNetGenState& s, int64_t steps, const int32_t* ids,
                          const float* cond, const double* uniforms, double temperature, int32_t* out,
                          float* logits) {
  const int64_t N = s.N_, Q = w.Q, t0 = s.t_;
  check_ids(ids, 0, N, Q);
  std::vector<int32_t> cur(ids, ids + N);
  std::vector<float> scratch(static_cast<size_t>(N * Q));
  const int nt = s.threads();
  // Stream n's logits of this step: kept when the caller asks, and its next
  // input drawn from them.
  auto draw = [&](int64_t n, int64_t t) {
    const float* row = scratch.data() + n * Q;
    if (logits) std::copy(row, row + Q, logits + (n * steps + t) * Q);
    cur[n] = wavenet_sample(row, Q, temperature, uniforms[n * steps + t]);
    out[n * steps + t] = cur[n];
  };
  if (s.by_streams_) {
    // Streams are independent: each thread runs its own through every step
    // and never waits for another.
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      const int t = nt > 1 ? omp_get_thread_num() : 0;
      const WaveNetGenState::Part& p = s.parts_[t];
      for (int64_t step = 0; step < steps; ++step) {
        s.step_part(w, t, t0 + step, cur.data(), cond ? cond + step * N * w.cin : nullptr, scratch.data());
        for (int64_t n = p.n0; n < p.n1; ++n) draw(n, step);
      }
    }
  } else {
    for (int64_t step = 0; step < steps; ++step) {
#pragma omp parallel num_threads(nt) if (nt > 1)
      s.step_part(w, nt > 1 ? omp_get_thread_num() : 0, t0 + step, cur.data(),
                  cond ? cond + step * N * w.cin : nullptr, scratch.data());
      for (int64_t n = 0; n < N; ++n) draw(n, step);
    }
  }
  s.t_ = t0 + steps;
}

int32_t wavenet_sample(const float* logits, int64_t Q, double temperature, double u) {
  const int64_t best = kmath::wg::first_max(logits, Q);
  if (temperature <= 0) return static_cast<int32_t>(best);
  // Inverse CDF of softmax(logits / temperature): the exponentials in f32
  // (kmath::fast_expf, a few ulp; libm's exp was a tenth of a generated
  // sample's time), the running sums in double.
  thread_local std::vector<float> p;
  p.resize(static_cast<size_t>(Q));
  const float inv = static_cast<float>(1.0 / temperature), top = logits[best];
  for (int64_t q = 0; q < Q; ++q) p[q] = kmath::wg::draw_weight(logits[q], top, inv);
  return kmath::wg::draw(p.data(), Q, u);
}

WaveNetGenImages wavenet_generate_images(const WaveNetGenWeights& w, int64_t streams,
                                         WaveNetGenPrecision precision) {
  if (streams < 1) throw std::invalid_argument("wavenet generation: streams must be >= 1");
  WaveNetGenImages im;
  kmath::wg::Dims& d = im.dims;
  d.N = streams;
  d.R = w.R;
  d.G = w.G;
  d.S = w.S;
  d.Q = w.Q;
  d.K = w.K;
  d.cin = w.cin;
  d.L = static_cast<int64_t>(w.layers.size());
  d.bf16 = precision == WaveNetGenPrecision::bf16;
  const int64_t R = d.R, G = d.G, H = d.H(), S = d.S, Q = d.Q, RS = d.RS();
  // An input-major matrix [I][M] (element (i, m) from at(i, m)) appended
  // as f32 rows or as bf16 pair rows.
  auto put = [&](std::vector<float>& f, std::vector<uint32_t>& h, int64_t I, int64_t M, auto at) {
    if (!d.bf16) {
      for (int64_t i = 0; i < I; ++i)
        for (int64_t m = 0; m < M; ++m) f.push_back(at(i, m));
      return;
    }
    for (int64_t p = 0; 2 * p < I; ++p)
      for (int64_t m = 0; m < M; ++m)
        h.push_back(bf16_pair(at(2 * p, m), 2 * p + 1 < I ? at(2 * p + 1, m) : 0.f));
  };
  int64_t ring = 0;
  for (const WaveNetGenLayer& l : w.layers) {
    for (int64_t k = 0; k < d.K; ++k)
      put(im.layers_f32, im.layers_h, R, G, [&](int64_t r, int64_t o) { return l.conv_w[(o * R + r) * d.K + k]; });
    if (d.cin > 0)
      put(im.layers_f32, im.layers_h, d.cin, G, [&](int64_t i, int64_t o) { return l.cond_w[o * d.cin + i]; });
    put(im.layers_f32, im.layers_h, H, RS, [&](int64_t j, int64_t m) {
      return m < R ? l.out_w[m * H + j] : l.skip_w[(m - R) * H + j];
    });
    im.bias.insert(im.bias.end(), l.conv_b, l.conv_b + G);
    im.bias.insert(im.bias.end(), l.out_b, l.out_b + R);
    im.bias.insert(im.bias.end(), l.skip_b, l.skip_b + S);
    if (l.gate_bias) im.gate_bias.insert(im.gate_bias.end(), l.gate_bias, l.gate_bias + streams * G);
    im.dilation.push_back(l.dilation);
    im.ring_at.push_back(ring);
    ring += ((d.K - 1) * l.dilation + 1) * streams * R;
  }
  if (!im.gate_bias.empty() && static_cast<int64_t>(im.gate_bias.size()) != d.L * streams * G)
    throw std::invalid_argument("wavenet generation: every layer or none needs a gate bias");
  im.ring_floats = ring;
  im.table.assign(w.input_table, w.input_table + Q * R);
  put(im.last1_f32, im.last1_h, S, S, [&](int64_t j, int64_t c) { return w.last1_w[c * S + j]; });
  put(im.last3_f32, im.last3_h, S, Q, [&](int64_t j, int64_t q) { return w.last3_w[q * S + j]; });
  im.last1_b.assign(w.last1_b, w.last1_b + S);
  im.last3_b.assign(w.last3_b, w.last3_b + Q);
  return im;
}

}  // namespace cadenza::kernels
