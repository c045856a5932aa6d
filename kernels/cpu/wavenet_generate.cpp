#include "kernels/cpu/wavenet_generate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels/cpu/matmul.h"
#include "kernels/math.h"

namespace cadenza::kernels {

namespace {

// C[N, M] (+)= A[N, K] W^T with W stored [M][K] (a linear layer on each row).
void linear_rows(int64_t N, int64_t M, int64_t K, const float* A, int64_t lda, const float* W, float* C, int64_t ldc,
                 bool accumulate) {
  gemm(DType::f32, false, true, N, M, K, 1.0, A, lda, W, K, accumulate ? 1.0 : 0.0, C, ldc);
}

void add_bias(int64_t N, int64_t M, const float* b, float* C) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) C[n * M + m] += b[m];
}

}  // namespace

WaveNetGenState::WaveNetGenState(const WaveNetGenWeights& w, int64_t streams) : N_(streams) {
  if (streams < 1) throw std::invalid_argument("wavenet generation: streams must be >= 1");
  for (const auto& l : w.layers) {
    const int64_t slots = (w.K - 1) * l.dilation + 1;
    slots_.push_back(slots);
    rings_.emplace_back(static_cast<size_t>(slots * N_ * w.R), 0.f);
  }
  h_.assign(static_cast<size_t>(N_ * w.R), 0.f);
  z_.assign(static_cast<size_t>(N_ * w.G), 0.f);
  u_.assign(static_cast<size_t>(N_ * w.G / 2), 0.f);
  skip_.assign(static_cast<size_t>(N_ * w.S), 0.f);
  a_.assign(static_cast<size_t>(N_ * w.S), 0.f);
  b_.assign(static_cast<size_t>(N_ * w.S), 0.f);
}

void wavenet_generate_step(const WaveNetGenWeights& w, WaveNetGenState& s, const int32_t* ids, const float* cond,
                           float* logits) {
  const int64_t N = s.N_, R = w.R, G = w.G, H = w.G / 2, S = w.S, Q = w.Q;
  float* h = s.h_.data();
  for (int64_t n = 0; n < N; ++n) {
    if (ids[n] < 0 || ids[n] >= Q) throw std::out_of_range("wavenet generation: input id outside the classes");
    std::memcpy(h + n * R, w.input_table + ids[n] * R, R * sizeof(float));
  }
  std::fill(s.skip_.begin(), s.skip_.end(), 0.f);
  const float half = static_cast<float>(std::sqrt(0.5));
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const WaveNetGenLayer& L = w.layers[l];
    const int64_t slots = s.slots_[l];
    float* ring = s.rings_[l].data();
    // This step's input joins the queue; tap k reads (K-1-k) * d steps back.
    const int64_t now = s.t_ % slots;
    std::memcpy(ring + now * N * R, h, N * R * sizeof(float));
    float* z = s.z_.data();
    for (int64_t n = 0; n < N; ++n) std::memcpy(z + n * G, L.conv_b, G * sizeof(float));
    for (int64_t k = 0; k < w.K; ++k) {
      const int64_t back = (w.K - 1 - k) * L.dilation;
      if (back > s.t_) continue;  // before the start: the zero history
      const int64_t slot = (s.t_ - back) % slots;
      linear_rows(N, G, R, ring + slot * N * R, R, L.conv_w + k * G * R, z, G, true);
    }
    if (L.cond_w) linear_rows(N, G, w.cin, cond, w.cin, L.cond_w, z, G, true);
    if (L.gate_bias)
      for (int64_t i = 0; i < N * G; ++i) z[i] += L.gate_bias[i];
    float* u = s.u_.data();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < H; ++j) u[n * H + j] = kmath::gate(z[n * G + j], z[n * G + H + j]);
    linear_rows(N, S, H, u, H, L.skip_w, s.skip_.data(), S, true);
    add_bias(N, S, L.skip_b, s.skip_.data());
    // h <- (out_w u + out_b + h) * sqrt(1/2), in place.
    linear_rows(N, R, H, u, H, L.out_w, h, R, true);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t r = 0; r < R; ++r) h[n * R + r] = (h[n * R + r] + L.out_b[r]) * half;
  }
  const float scale = static_cast<float>(std::sqrt(1.0 / static_cast<double>(w.layers.size())));
  float* a = s.a_.data();
  for (int64_t i = 0; i < N * S; ++i) a[i] = std::max(0.f, s.skip_[i] * scale);
  linear_rows(N, S, S, a, S, w.last1_w, s.b_.data(), S, false);
  add_bias(N, S, w.last1_b, s.b_.data());
  for (float& v : s.b_) v = std::max(0.f, v);
  linear_rows(N, Q, S, s.b_.data(), S, w.last3_w, logits, Q, false);
  add_bias(N, Q, w.last3_b, logits);
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
