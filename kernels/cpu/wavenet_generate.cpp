#include "kernels/cpu/wavenet_generate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels/math.h"

namespace cadenza::kernels {

namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#else
constexpr int kLanes = 8;
#endif
typedef float vec __attribute__((vector_size(kLanes * sizeof(float))));

inline vec load_u(const float* p) {
  vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_u(float* p, const vec& v) { std::memcpy(p, &v, sizeof v); }

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

WaveNetGenState::WaveNetGenState(const WaveNetGenWeights& w, int64_t streams) : N_(streams) {
  if (streams < 1) throw std::invalid_argument("wavenet generation: streams must be >= 1");
  const int64_t R = w.R, G = w.G, H = w.G / 2, S = w.S, Q = w.Q, KR = w.K * w.R;
  for (const auto& l : w.layers) {
    const int64_t slots = (w.K - 1) * l.dilation + 1;
    slots_.push_back(slots);
    rings_.emplace_back(static_cast<size_t>(slots * N_ * R), 0.f);
    std::vector<float> in(static_cast<size_t>((KR + w.cin) * G));
    for (int64_t k = 0; k < w.K; ++k) transpose_into(l.conv_w + k * G * R, G, R, in.data() + k * R * G, G);
    if (l.cond_w) transpose_into(l.cond_w, G, w.cin, in.data() + KR * G, G);
    in_w_.push_back(std::move(in));
    std::vector<float> out(static_cast<size_t>(H * (R + S)));
    transpose_into(l.out_w, R, H, out.data(), R + S);
    transpose_into(l.skip_w, S, H, out.data() + R, R + S);
    out_w_.push_back(std::move(out));
  }
  last1_w_.resize(static_cast<size_t>(S * S));
  transpose_into(w.last1_w, S, S, last1_w_.data(), S);
  last3_w_.resize(static_cast<size_t>(S * Q));
  transpose_into(w.last3_w, Q, S, last3_w_.data(), Q);
  h_.assign(static_cast<size_t>(N_ * R), 0.f);
  x_.assign(static_cast<size_t>(N_ * (KR + w.cin)), 0.f);
  z_.assign(static_cast<size_t>(N_ * G), 0.f);
  u_.assign(static_cast<size_t>(N_ * H), 0.f);
  y_.assign(static_cast<size_t>(N_ * (R + S)), 0.f);
  skip_.assign(static_cast<size_t>(N_ * S), 0.f);
  a_.assign(static_cast<size_t>(N_ * S), 0.f);
  b_.assign(static_cast<size_t>(N_ * S), 0.f);
}

void wavenet_generate_step(const WaveNetGenWeights& w, WaveNetGenState& s, const int32_t* ids, const float* cond,
                           float* logits) {
  const int64_t N = s.N_, R = w.R, G = w.G, H = w.G / 2, S = w.S, Q = w.Q;
  const int64_t KR = w.K * R, IN = KR + w.cin, RS = R + S;
  float* h = s.h_.data();
  for (int64_t n = 0; n < N; ++n) {
    if (ids[n] < 0 || ids[n] >= Q) throw std::out_of_range("wavenet generation: input id outside the classes");
    std::memcpy(h + n * R, w.input_table + ids[n] * R, R * sizeof(float));
  }
  std::fill(s.skip_.begin(), s.skip_.end(), 0.f);
  float* x = s.x_.data();
  // The conditioning sits after the taps in every layer's input row.
  if (w.cin > 0)
    for (int64_t n = 0; n < N; ++n) std::memcpy(x + n * IN + KR, cond + n * w.cin, w.cin * sizeof(float));
  const float half = static_cast<float>(std::sqrt(0.5));
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const WaveNetGenLayer& L = w.layers[l];
    const int64_t slots = s.slots_[l];
    float* ring = s.rings_[l].data();
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
    float* z = s.z_.data();
    for (int64_t n = 0; n < N; ++n) {
      std::memcpy(z + n * G, L.conv_b, G * sizeof(float));
      if (L.gate_bias)
        for (int64_t g = 0; g < G; ++g) z[n * G + g] += L.gate_bias[n * G + g];
    }
    axpy_gemm(N, L.cond_w ? IN : KR, G, x, IN, s.in_w_[l].data(), z, G);
    float* u = s.u_.data();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < H; ++j) u[n * H + j] = kmath::gate(z[n * G + j], z[n * G + H + j]);
    // The residual and skip 1x1s in one product: y = [out_b, skip_b] + u [out_w; skip_w]^T.
    float* y = s.y_.data();
    for (int64_t n = 0; n < N; ++n) {
      std::memcpy(y + n * RS, L.out_b, R * sizeof(float));
      std::memcpy(y + n * RS + R, L.skip_b, S * sizeof(float));
    }
    axpy_gemm(N, H, RS, u, H, s.out_w_[l].data(), y, RS);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t r = 0; r < R; ++r) h[n * R + r] = (h[n * R + r] + y[n * RS + r]) * half;
      for (int64_t j = 0; j < S; ++j) s.skip_[n * S + j] += y[n * RS + R + j];
    }
  }
  const float scale = static_cast<float>(std::sqrt(1.0 / static_cast<double>(w.layers.size())));
  float* a = s.a_.data();
  float* b = s.b_.data();
  for (int64_t i = 0; i < N * S; ++i) a[i] = std::max(0.f, s.skip_[i] * scale);
  for (int64_t n = 0; n < N; ++n) std::memcpy(b + n * S, w.last1_b, S * sizeof(float));
  axpy_gemm(N, S, S, a, S, s.last1_w_.data(), b, S);
  for (int64_t i = 0; i < N * S; ++i) b[i] = std::max(0.f, b[i]);
  for (int64_t n = 0; n < N; ++n) std::memcpy(logits + n * Q, w.last3_b, Q * sizeof(float));
  axpy_gemm(N, S, Q, b, S, s.last3_w_.data(), logits, Q);
  ++s.t_;
}

int32_t wavenet_sample(const float* logits, int64_t Q, double temperature, double u) {
  int64_t best = 0;
  for (int64_t q = 1; q < Q; ++q)
    if (logits[q] > logits[best]) best = q;
  if (temperature <= 0) return static_cast<int32_t>(best);
  // Inverse CDF of softmax(logits / temperature), in double.
  double total = 0;
  std::vector<double> p(static_cast<size_t>(Q));
  for (int64_t q = 0; q < Q; ++q) {
    p[q] = std::exp((static_cast<double>(logits[q]) - logits[best]) / temperature);
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
