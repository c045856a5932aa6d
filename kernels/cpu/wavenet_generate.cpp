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

namespace cadenza::kernels {

namespace {

constexpr int kLanes = kSimdLanes;
using vec = fvec;  // kernels/cpu/simd.h

// One input of a product: rows x[n * ldx + i], i < I, against the weight
// rows w[i * ldw + m] (input-major, as packed below).
struct Seg {
  const float* x;
  int64_t ldx, I;
  const float* w;
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
void gemm(int64_t N, int nseg, const Seg* seg, int64_t M, int64_t ldw, float* Y, int64_t ldy) {
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

WaveNetGenState::WaveNetGenState(const WaveNetGenWeights& w, int64_t streams, int threads, WaveNetGenSplit split)
    : N_(streams) {
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
      sh.in_w.push_back(std::move(in));
      sh.in_b.push_back(std::move(bias));
    }
    sh.last1_w = columns(last1, S, S, sh.c0, sh.c1);
    sh.last3_w = columns(last3, S, Q, sh.q0, sh.q1);
  }
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

void wavenet_generate_step(const WaveNetGenWeights& w, WaveNetGenState& s, const int32_t* ids, const float* cond,
                           float* logits) {
  const int64_t N = s.N_, R = w.R, G = w.G, H = w.G / 2, S = w.S, Q = w.Q;
  const int64_t KR = w.K * R, RS = R + S;
  for (int64_t n = 0; n < N; ++n)
    if (ids[n] < 0 || ids[n] >= Q) throw std::out_of_range("wavenet generation: input id outside the classes");
  const int nt = s.threads();
  const bool by_streams = s.by_streams_;
  const float half = static_cast<float>(std::sqrt(0.5));
  const float scale = static_cast<float>(std::sqrt(1.0 / static_cast<double>(w.layers.size())));
  const int64_t t_now = s.t_;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = nt > 1 ? omp_get_thread_num() : 0;
    WaveNetGenState::Part& p = s.parts_[t];
    const WaveNetGenState::Share& sh = *p.share;
    const int64_t n0 = p.n0, NB = p.n1 - p.n0, U = sh.j1 - sh.j0;
    float* hs = p.hs.data();
    for (int64_t n = 0; n < NB; ++n) {
      std::memcpy(hs + n * RS, w.input_table + ids[n0 + n] * R, R * sizeof(float));
      std::fill(hs + n * RS + R, hs + (n + 1) * RS, 0.f);
    }
    Seg seg[kMaxSegs];
    for (size_t l = 0; l < w.layers.size(); ++l) {
      const WaveNetGenLayer& L = w.layers[l];
      const int64_t slots = s.slots_[l];
      float* ring = p.rings[l].data();
      // This step's input joins the queue; tap k reads (K-1-k) * d steps
      // back, and a tap before the start reads the full pass's zero padding,
      // so it adds nothing and is left out.
      float* cur = ring + (t_now % slots) * NB * R;
      for (int64_t n = 0; n < NB; ++n) std::memcpy(cur + n * R, hs + n * RS, R * sizeof(float));
      int nseg = 0;
      const float* in_w = sh.in_w[l].data();
      for (int64_t k = 0; k < w.K; ++k) {
        const int64_t back = (w.K - 1 - k) * L.dilation;
        if (back > t_now) continue;
        seg[nseg++] = {ring + ((t_now - back) % slots) * NB * R, R, R, in_w + k * R * 2 * U};
      }
      if (L.cond_w) seg[nseg++] = {cond + n0 * w.cin, w.cin, w.cin, in_w + KR * 2 * U};
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
      const Seg useg{u, U, U, s.out_w_[l].data() + sh.j0 * RS};
      if (by_streams) {
        gemm(NB, 1, &useg, RS, RS, hs, RS);  // onto [h | skip]
        for (int64_t n = 0; n < NB; ++n) {
          float* row = hs + n * RS;
          for (int64_t r = 0; r < R; ++r) row[r] = (row[r] + L.out_b[r]) * half;
          for (int64_t j = 0; j < S; ++j) row[R + j] += L.skip_b[j];
        }
      } else {
        float* y = s.y_[l % 2].data() + t * N * RS;
        std::fill(y, y + N * RS, 0.f);
        gemm(N, 1, &useg, RS, RS, y, RS);
#pragma omp barrier
        const float* ys = s.y_[l % 2].data();
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
    const Seg aseg{a, S, S, sh.last1_w.data()};
    if (C > 0) gemm(NB, 1, &aseg, C, C, head, C);
    float* b = by_streams ? head : s.b_.data();  // [NB][S]
    for (int64_t n = 0; n < NB; ++n)
      for (int64_t c = 0; c < C; ++c) b[n * S + sh.c0 + c] = std::max(0.f, head[n * C + c]);
    if (!by_streams) {
#pragma omp barrier
    }
    float* out = logits + n0 * Q + sh.q0;
    for (int64_t n = 0; n < NB; ++n) std::memcpy(out + n * Q, w.last3_b + sh.q0, QC * sizeof(float));
    const Seg bseg{b, S, S, sh.last3_w.data()};
    if (QC > 0) gemm(NB, 1, &bseg, QC, QC, out, Q);
  }
  ++s.t_;
}

int32_t wavenet_sample(const float* logits, int64_t Q, double temperature, double u) {
  int64_t best = 0;
  for (int64_t q = 1; q < Q; ++q)
    if (logits[q] > logits[best]) best = q;
  if (temperature <= 0) return static_cast<int32_t>(best);
  // Inverse CDF of softmax(logits / temperature): the exponentials in f32
  // (kmath::fast_expf, a few ulp; libm's exp was a tenth of a generated
  // sample's time), the running sum in double.
  thread_local std::vector<float> p;
  p.resize(static_cast<size_t>(Q));
  const float inv = static_cast<float>(1.0 / temperature), top = logits[best];
  double total = 0;
  for (int64_t q = 0; q < Q; ++q) {
    p[q] = kmath::fast_expf((logits[q] - top) * inv);
    total += p[q];
  }
  double target = u * total, acc = 0;
  for (int64_t q = 0; q < Q; ++q) {
    acc += p[q];
    if (target < acc) return static_cast<int32_t>(q);
  }
  return static_cast<int32_t>(Q - 1);
}

}  // namespace cadenza::kernels
