#pragma once
// A random WaveNet's weights, owned, as the fast generators take them
// (kernels/cpu/wavenet_generate.h): for the host run of the CUDA kernel's
// blocks (test_wavenet_generate.cpp) and the GPU check
// (tests/engine_tools/cuda_wavenet_generate_check.cpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu/wavenet_generate.h"

namespace cadenza::test {

// A random model's weights, owned, as the generators take them.
struct Model {
  int64_t R, G, S, Q, K, cin, N;
  std::vector<std::vector<float>> store;
  kernels::WaveNetGenWeights w;
  float* fill(int64_t n, std::mt19937& rng, float scale) {
    std::normal_distribution<float> dist(0.f, scale);
    store.emplace_back(static_cast<size_t>(n));
    for (float& v : store.back()) v = dist(rng);
    return store.back().data();
  }
  Model(int64_t R_, int64_t G_, int64_t S_, int64_t Q_, int64_t K_, int64_t cin_, int64_t N_,
        const std::vector<int64_t>& dilations, bool gate_bias, uint32_t seed)
      : R(R_), G(G_), S(S_), Q(Q_), K(K_), cin(cin_), N(N_) {
    store.reserve(64 + 16 * dilations.size());
    std::mt19937 rng(seed);
    w.R = R;
    w.G = G;
    w.S = S;
    w.Q = Q;
    w.K = K;
    w.cin = cin;
    w.input_table = fill(Q * R, rng, 1.f);
    const float in = 1.f / std::sqrt(static_cast<float>(K * R + cin)), hid = 1.f / std::sqrt(G / 2.f);
    for (int64_t d : dilations) {
      kernels::WaveNetGenLayer l;
      l.dilation = d;
      l.conv_w = fill(G * R * K, rng, in);
      l.conv_b = fill(G, rng, 0.1f);
      if (cin > 0) l.cond_w = fill(G * cin, rng, in);
      if (gate_bias) l.gate_bias = fill(N * G, rng, 0.3f);
      l.out_w = fill(R * (G / 2), rng, hid);
      l.out_b = fill(R, rng, 0.1f);
      l.skip_w = fill(S * (G / 2), rng, hid);
      l.skip_b = fill(S, rng, 0.1f);
      w.layers.push_back(l);
    }
    w.last1_w = fill(S * S, rng, 1.f / std::sqrt(static_cast<float>(S)));
    w.last1_b = fill(S, rng, 0.1f);
    w.last3_w = fill(Q * S, rng, 2.f / std::sqrt(static_cast<float>(S)));
    w.last3_b = fill(Q, rng, 0.1f);
  }
};

// n uniforms in [0, 1) from `seed`.
inline std::vector<double> uniforms(int64_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = u(rng);
  return v;
}

// One run's comparison: the worst logit difference, the largest logit,
// whether the draws agree, and how often consecutive draws change.
struct RunDiff {
  int64_t steps = 0;
  double worst = 0, top = 0;
  bool same_draws = false;
  int64_t changes = 0;
};

// Runs the CPU generator (whole streams on one thread: the order the CUDA
// kernel keeps) and `other` (anything with wavenet_generate_run's
// arguments as run(...)) over `steps` samples in two runs, the second
// continuing from the first's state and last draws, with fresh uniforms
// and conditioning.
template <class Other>
std::vector<RunDiff> against_cpu(const Model& m, kernels::WaveNetGenPrecision prec, int64_t steps,
                                 double temperature, Other& other) {
  const int64_t N = m.N, Q = m.Q;
  kernels::WaveNetGenState cpu(m.w, N, 1, kernels::WaveNetGenSplit::streams, prec);
  std::vector<int32_t> ids(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) ids[n] = static_cast<int32_t>((7 * n + 3) % Q);
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  std::vector<RunDiff> diffs;
  const int64_t first = steps / 3;
  for (int64_t len : {first, steps - first}) {
    std::vector<float> cond;
    if (m.cin > 0) {
      cond.resize(static_cast<size_t>(len * N * m.cin));
      for (float& v : cond) v = nd(rng);
    }
    const std::vector<double> u = uniforms(N * len, 5 + static_cast<uint32_t>(diffs.size()));
    std::vector<int32_t> want(static_cast<size_t>(N * len)), got(want.size());
    std::vector<float> lw(static_cast<size_t>(N * len * Q)), lg(lw.size(), NAN);
    const float* c = cond.empty() ? nullptr : cond.data();
    kernels::wavenet_generate_run(m.w, cpu, len, ids.data(), c, u.data(), temperature, want.data(), lw.data());
    other.run(len, ids.data(), c, u.data(), temperature, got.data(), lg.data());
    RunDiff r;
    r.steps = len;
    for (size_t i = 0; i < lw.size(); ++i) {
      const double d = std::fabs(static_cast<double>(lw[i]) - lg[i]);
      r.worst = std::max(r.worst, d != d ? INFINITY : d);  // a NaN (an unwritten logit) is the worst
      r.top = std::max(r.top, std::fabs(static_cast<double>(lw[i])));
    }
    r.same_draws = got == want;
    for (size_t i = 1; i < got.size(); ++i) r.changes += got[i] != got[i - 1];
    diffs.push_back(r);
    for (int64_t n = 0; n < N; ++n) ids[n] = got[n * len + len - 1];
  }
  return diffs;
}

}  // namespace cadenza::test
