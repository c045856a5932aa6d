#include "kernels/cpu/wavenet_generate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels/cpu/simd.h"
#include "kernels/math.h"

#include <omp.h>

namespace cadenza::kernels {

namespace {

constexpr int kLanes = kSimdLanes;
using vec = fvec;  // kernels/cpu/simd.h

// Y[n, m0 .. m0 + V lanes) += X[n, :] Wt[:, m0 ..] for NB rows, with the
// accumulators in registers: each weight vector is loaded once for all rows.
template <int NB, int V>
void axpy_tile(int64_t I, const float* X, int64_t ldx, const float* Wt, int64_t M, float* Y, int64_t ldy) {
  vec acc[NB][V];
  for (int n = 0; n < NB; ++n)
    for (int v = 0; v < V; ++v) acc[n][v] = load_u(Y + n * ldy + v * kLanes);
  for (int64_t i = 0; i < I; ++i) {
    const float* w = Wt + i * M;
    vec wv[V];
    for (int v = 0; v < V; ++v) wv[v] = load_u(w + v * kLanes);
    for (int n = 0; n < NB; ++n) {
      const vec x = vec{} + X[n * ldx + i];
      for (int v = 0; v < V; ++v) acc[n][v] += x * wv[v];
    }
  }
  for (int n = 0; n < NB; ++n)
    for (int v = 0; v < V; ++v) store_u(Y + n * ldy + v * kLanes, acc[n][v]);
}

// Y[N, M] += X[N, I] Wt[I, M] (Wt input-major, as packed below). One stream:
// 4-vector column tiles; several: 2-vector tiles for up to 4 rows at a time.
void axpy_gemm(int64_t N, int64_t I, int64_t M, const float* X, int64_t ldx, const float* Wt, float* Y,
               int64_t ldy) {
  int64_t m = 0;
  if (N == 1) {
    for (; m + 4 * kLanes <= M; m += 4 * kLanes) axpy_tile<1, 4>(I, X, ldx, Wt + m, M, Y + m, ldy);
  } else {
    for (; m + 2 * kLanes <= M; m += 2 * kLanes) {
      int64_t n = 0;
      for (; n + 4 <= N; n += 4) axpy_tile<4, 2>(I, X + n * ldx, ldx, Wt + m, M, Y + n * ldy + m, ldy);
      for (; n < N; ++n) axpy_tile<1, 2>(I, X + n * ldx, ldx, Wt + m, M, Y + n * ldy + m, ldy);
    }
  }
  for (; m + kLanes <= M; m += kLanes)
    for (int64_t n = 0; n < N; ++n) axpy_tile<1, 1>(I, X + n * ldx, ldx, Wt + m, M, Y + n * ldy + m, ldy);
  for (; m < M; ++m)  // columns past the last whole vector
    for (int64_t n = 0; n < N; ++n) {
      float acc = Y[n * ldy + m];
      for (int64_t i = 0; i < I; ++i) acc += X[n * ldx + i] * Wt[i * M + m];
      Y[n * ldy + m] = acc;
    }
}

// W [M][K] row-major (a layer's weight) -> [K][M], written at dst with row stride ld.
void transpose_into(const float* W, int64_t M, int64_t K, float* dst, int64_t ld) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) dst[k * ld + m] = W[m * K + k];
}

}  // namespace

WaveNetGenState::WaveNetGenState(const WaveNetGenWeights& w, int64_t streams, int threads) : N_(streams) {
  if (streams < 1) throw std::invalid_argument("wavenet generation: streams must be >= 1");
  const int64_t R = w.R, G = w.G, H = w.G / 2, S = w.S, Q = w.Q, KR = w.K * w.R, IN = KR + w.cin;
  int nt = threads > 0 ? threads : (omp_in_parallel() ? 1 : omp_get_max_threads());
  nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(nt, H)));
  // The whole input products, input-major, from which each thread takes its units.
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
  parts_.resize(static_cast<size_t>(nt));
  for (int t = 0; t < nt; ++t) {
    Part& p = parts_[t];
    p.j0 = H * t / nt;
    p.j1 = H * (t + 1) / nt;
    p.c0 = S * t / nt;
    p.c1 = S * (t + 1) / nt;
    p.q0 = Q * t / nt;
    p.q1 = Q * (t + 1) / nt;
    const int64_t U = p.j1 - p.j0;
    for (size_t l = 0; l < w.layers.size(); ++l) {
      std::vector<float> in(static_cast<size_t>(IN * 2 * U)), bias(static_cast<size_t>(2 * U));
      for (int64_t i = 0; i < IN; ++i)
        for (int64_t j = 0; j < U; ++j) {
          in[i * 2 * U + j] = in_all[l][i * G + p.j0 + j];
          in[i * 2 * U + U + j] = in_all[l][i * G + H + p.j0 + j];
        }
      for (int64_t j = 0; j < U; ++j) {
        bias[j] = w.layers[l].conv_b[p.j0 + j];
        bias[U + j] = w.layers[l].conv_b[H + p.j0 + j];
      }
      p.in_w.push_back(std::move(in));
      p.in_b.push_back(std::move(bias));
      p.rings.emplace_back(static_cast<size_t>(slots_[l] * N_ * R), 0.f);
    }
    p.last1_w = columns(last1, S, S, p.c0, p.c1);
    p.last3_w = columns(last3, S, Q, p.q0, p.q1);
    p.h.assign(static_cast<size_t>(N_ * R), 0.f);
    p.x.assign(static_cast<size_t>(N_ * IN), 0.f);
    p.z.assign(static_cast<size_t>(N_ * 2 * U), 0.f);
    p.u.assign(static_cast<size_t>(N_ * U), 0.f);
    p.skip.assign(static_cast<size_t>(N_ * S), 0.f);
    p.a.assign(static_cast<size_t>(N_ * S), 0.f);
    p.head.assign(static_cast<size_t>(N_ * std::max(p.c1 - p.c0, p.q1 - p.q0)), 0.f);
  }
  for (auto& y : y_) y.assign(static_cast<size_t>(nt * N_ * (R + S)), 0.f);
  b_.assign(static_cast<size_t>(N_ * S), 0.f);
}

void wavenet_generate_step(const WaveNetGenWeights& w, WaveNetGenState& s, const int32_t* ids, const float* cond,
                           float* logits) {
  const int64_t N = s.N_, R = w.R, G = w.G, H = w.G / 2, S = w.S, Q = w.Q;
  const int64_t KR = w.K * R, IN = KR + w.cin, RS = R + S;
  for (int64_t n = 0; n < N; ++n)
    if (ids[n] < 0 || ids[n] >= Q) throw std::out_of_range("wavenet generation: input id outside the classes");
  const int nt = s.threads();
  const float half = static_cast<float>(std::sqrt(0.5));
  const float scale = static_cast<float>(std::sqrt(1.0 / static_cast<double>(w.layers.size())));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = nt > 1 ? omp_get_thread_num() : 0;
    WaveNetGenState::Part& p = s.parts_[t];
    const int64_t U = p.j1 - p.j0;
    float* h = p.h.data();
    float* x = p.x.data();
    for (int64_t n = 0; n < N; ++n) std::memcpy(h + n * R, w.input_table + ids[n] * R, R * sizeof(float));
    std::fill(p.skip.begin(), p.skip.end(), 0.f);
    // The conditioning sits after the taps in every layer's input row.
    if (w.cin > 0)
      for (int64_t n = 0; n < N; ++n) std::memcpy(x + n * IN + KR, cond + n * w.cin, w.cin * sizeof(float));
    for (size_t l = 0; l < w.layers.size(); ++l) {
      const WaveNetGenLayer& L = w.layers[l];
      const int64_t slots = s.slots_[l];
      float* ring = p.rings[l].data();
      // This step's input joins the queue; tap k reads (K-1-k) * d steps back
      // (zeros before the start: the full pass's zero padding).
      std::memcpy(ring + (s.t_ % slots) * N * R, h, N * R * sizeof(float));
      for (int64_t k = 0; k < w.K; ++k) {
        const int64_t back = (w.K - 1 - k) * L.dilation;
        const float* src = ring + ((s.t_ - back) % slots) * N * R;
        for (int64_t n = 0; n < N; ++n) {
          float* dst = x + n * IN + k * R;
          if (back > s.t_)
            std::fill(dst, dst + R, 0.f);
          else
            std::memcpy(dst, src + n * R, R * sizeof(float));
        }
      }
      // This thread's gate units: z = bias + x W_in (a units, then b units).
      float* z = p.z.data();
      for (int64_t n = 0; n < N; ++n) {
        std::memcpy(z + n * 2 * U, p.in_b[l].data(), 2 * U * sizeof(float));
        if (L.gate_bias)
          for (int64_t j = 0; j < U; ++j) {
            z[n * 2 * U + j] += L.gate_bias[n * G + p.j0 + j];
            z[n * 2 * U + U + j] += L.gate_bias[n * G + H + p.j0 + j];
          }
      }
      axpy_gemm(N, L.cond_w ? IN : KR, 2 * U, x, IN, p.in_w[l].data(), z, 2 * U);
      float* u = p.u.data();
      for (int64_t n = 0; n < N; ++n)
        for (int64_t j = 0; j < U; ++j) u[n * U + j] = kmath::gate(z[n * 2 * U + j], z[n * 2 * U + U + j]);
      // Their share of the residual and skip 1x1s, both in one product.
      float* y = s.y_[l % 2].data() + t * N * RS;
      std::fill(y, y + N * RS, 0.f);
      axpy_gemm(N, U, RS, u, U, s.out_w_[l].data() + p.j0 * RS, y, RS);
      if (nt > 1) {
#pragma omp barrier
      }
      const float* ys = s.y_[l % 2].data();
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t r = 0; r < R; ++r) {
          float acc = h[n * R + r] + L.out_b[r];
          for (int q = 0; q < nt; ++q) acc += ys[(q * N + n) * RS + r];
          h[n * R + r] = acc * half;
        }
        for (int64_t j = 0; j < S; ++j) {
          float acc = L.skip_b[j];
          for (int q = 0; q < nt; ++q) acc += ys[(q * N + n) * RS + R + j];
          p.skip[n * S + j] += acc;
        }
      }
    }
    // The head: relu, last1 (columns split), relu, last3 (columns split).
    float* a = p.a.data();
    for (int64_t i = 0; i < N * S; ++i) a[i] = std::max(0.f, p.skip[i] * scale);
    const int64_t C = p.c1 - p.c0, QC = p.q1 - p.q0;
    std::vector<float>& part = p.head;
    for (int64_t n = 0; n < N; ++n) std::memcpy(part.data() + n * C, w.last1_b + p.c0, C * sizeof(float));
    if (C > 0) axpy_gemm(N, S, C, a, S, p.last1_w.data(), part.data(), C);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) s.b_[n * S + p.c0 + c] = std::max(0.f, part[n * C + c]);
    if (nt > 1) {
#pragma omp barrier
    }
    for (int64_t n = 0; n < N; ++n) std::memcpy(part.data() + n * QC, w.last3_b + p.q0, QC * sizeof(float));
    if (QC > 0) axpy_gemm(N, S, QC, s.b_.data(), S, p.last3_w.data(), part.data(), QC);
    for (int64_t n = 0; n < N; ++n) std::memcpy(logits + n * Q + p.q0, part.data() + n * QC, QC * sizeof(float));
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
