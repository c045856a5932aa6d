// conv1d and gated_activation: the kernels against a plain double loop on
// random shapes, f64 gradient checks (first and second order) at the
// dilations WaveNet uses, torch.nn.Conv1d goldens (make_conv1d_golden.py),
// the nn::Conv1d module, and errors that name the shapes.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/nn.h"
#include "engine/threading.h"
#include "gradcheck.h"
#include "kernels/cpu/conv1d.h"
#include "kernels/cpu/gated_activation.h"
#include "kernels/math.h"

using namespace cadenza;
using cadenza::test::gradcheck;
using cadenza::test::gradgradcheck;
using cadenza::test::leaf;

namespace {

struct Ref {
  kernels::Conv1dShape s;
  std::vector<double> x, w, b, g;
  double X(int64_t b_, int64_t c, int64_t t) const {
    return t < 0 || t >= s.T ? 0.0 : x[(b_ * s.Cin + c) * s.T + t];
  }
  double W(int64_t o, int64_t c, int64_t k) const { return w[(o * s.Cin + c) * s.K + k]; }
  double y(int64_t b_, int64_t o, int64_t t) const {
    double acc = b.empty() ? 0.0 : b[o];
    for (int64_t c = 0; c < s.Cin; ++c)
      for (int64_t k = 0; k < s.K; ++k) acc += W(o, c, k) * X(b_, c, t + k * s.dilation - s.pad_left);
    return acc;
  }
  double G(int64_t b_, int64_t o, int64_t t) const { return t < 0 || t >= s.To ? 0.0 : g[(b_ * s.Cout + o) * s.To + t]; }
  double dx(int64_t b_, int64_t c, int64_t t) const {
    double acc = 0;
    for (int64_t o = 0; o < s.Cout; ++o)
      for (int64_t k = 0; k < s.K; ++k) acc += W(o, c, k) * G(b_, o, t - k * s.dilation + s.pad_left);
    return acc;
  }
  double dw(int64_t o, int64_t c, int64_t k) const {
    double acc = 0;
    for (int64_t b_ = 0; b_ < s.B; ++b_)
      for (int64_t t = 0; t < s.To; ++t) acc += G(b_, o, t) * X(b_, c, t + k * s.dilation - s.pad_left);
    return acc;
  }
};

template <class T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <class T>
void check_kernels(const Ref& r, bool bias, double tol) {
  const auto& s = r.s;
  auto x = cast<T>(r.x), w = cast<T>(r.w), b = cast<T>(r.b), g = cast<T>(r.g);
  DType dt = sizeof(T) == 4 ? DType::f32 : DType::f64;
  std::vector<T> y(s.B * s.Cout * s.To + 1, T(-7)), dx(s.B * s.Cin * s.T + 1, T(-7)),
      dw(s.Cout * s.Cin * s.K + 1, T(-7));
  kernels::conv1d_forward(dt, s, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
  kernels::conv1d_backward_input(dt, s, g.data(), w.data(), dx.data());
  kernels::conv1d_backward_weight(dt, s, g.data(), x.data(), dw.data());
  // Sentinels after each output: nothing is written past the end.
  REQUIRE(y.back() == T(-7));
  REQUIRE(dx.back() == T(-7));
  REQUIRE(dw.back() == T(-7));
  Ref rb = r;
  if (!bias) rb.b.clear();
  for (int64_t bb = 0; bb < s.B; ++bb)
    for (int64_t o = 0; o < s.Cout; ++o)
      for (int64_t t = 0; t < s.To; ++t) {
        double want = rb.y(bb, o, t);
        REQUIRE(std::fabs(y[(bb * s.Cout + o) * s.To + t] - want) <= tol * (1 + std::fabs(want)));
      }
  for (int64_t bb = 0; bb < s.B; ++bb)
    for (int64_t c = 0; c < s.Cin; ++c)
      for (int64_t t = 0; t < s.T; ++t) {
        double want = r.dx(bb, c, t);
        REQUIRE(std::fabs(dx[(bb * s.Cin + c) * s.T + t] - want) <= tol * (1 + std::fabs(want)));
      }
  for (int64_t o = 0; o < s.Cout; ++o)
    for (int64_t c = 0; c < s.Cin; ++c)
      for (int64_t k = 0; k < s.K; ++k) {
        double want = r.dw(o, c, k);
        REQUIRE(std::fabs(dw[(o * s.Cin + c) * s.K + k] - want) <= tol * (1 + std::fabs(want)));
      }
}

std::vector<double> randoms(int64_t n, Generator& g) {
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& e : v) e = uniform_double(&g) * 2 - 1;
  return v;
}

}  // namespace

TEST_CASE("conv1d: kernels equal a double loop on random shapes, f32 and f64, 1 and 2 threads", "[engine][conv1d]") {
  const int threads_before = get_num_threads();
  Generator gen(11);
  auto pick = [&](int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(uniform_double(&gen) * (hi - lo + 1)); };
  for (int trial = 0; trial < 48; ++trial) {
    Ref r;
    auto& s = r.s;
    s.B = pick(1, 3);
    s.Cin = pick(1, 20);
    s.Cout = pick(1, 37);  // across the panel GEMM's 16-row routing
    if (trial % 6 == 5) {  // one channel over many rows, as the vocoder's upsampling filters run
      s.B = pick(4, 40);
      s.Cin = s.Cout = 1;
    }
    s.K = trial % 6 == 5 ? pick(1, 9) : pick(1, 4);
    s.dilation = trial % 5 == 0 ? pick(8, 40) : pick(1, 4);
    // Some lengths span several of the f32 kernel's column blocks and depth blocks.
    s.T = trial % 4 == 3 ? pick(300, 1300) : pick(1, 90);
    int64_t span = s.dilation * (s.K - 1);
    int64_t mode = trial % 3;  // causal, symmetric, random
    s.pad_left = mode == 0 ? span : mode == 1 ? span / 2 : pick(0, span + 3);
    int64_t pad_right = mode == 0 ? 0 : mode == 1 ? span - span / 2 : pick(0, 5);
    s.To = s.T + s.pad_left + pad_right - span;
    if (s.To < 1) continue;
    r.x = randoms(s.B * s.Cin * s.T, gen);
    r.w = randoms(s.Cout * s.Cin * s.K, gen);
    r.b = randoms(s.Cout, gen);
    r.g = randoms(s.B * s.Cout * s.To, gen);
    INFO("trial " << trial << " B=" << s.B << " Cin=" << s.Cin << " Cout=" << s.Cout << " T=" << s.T << " K=" << s.K
                  << " d=" << s.dilation << " pl=" << s.pad_left << " To=" << s.To);
    set_num_threads(trial % 2 ? 1 : 2);
    check_kernels<double>(r, trial % 2 == 0, 1e-12);
    check_kernels<float>(r, trial % 2 == 1, 5e-5);
  }
  set_num_threads(threads_before);
}

TEST_CASE("conv1d: f64 gradient checks at WaveNet's dilations, causal and symmetric", "[engine][conv1d][grad]") {
  struct Case {
    int64_t K, d, pl, pr, T;
  };
  // Odd lengths and channel counts; dilation 64 with T beyond the receptive field.
  for (Case c : {Case{2, 1, 1, 0, 7}, Case{2, 2, 2, 0, 9}, Case{3, 7, 14, 0, 13}, Case{2, 64, 64, 0, 67},
                 Case{3, 1, 1, 1, 5}, Case{3, 2, 1, 3, 11}, Case{2, 7, 0, 0, 9}}) {
    DYNAMIC_SECTION("K=" << c.K << " d=" << c.d << " pad " << c.pl << "+" << c.pr) {
      Tensor x = leaf({2, 3, c.T}, -1, 1, 1), w = leaf({5, 3, c.K}, -1, 1, 2), b = leaf({5}, -1, 1, 3);
      gradcheck([&](const std::vector<Tensor>& v) { return conv1d(v[0], v[1], v[2], c.d, c.pl, c.pr); }, {x, w, b});
    }
  }
  SECTION("second order (the gradients are convolutions too)") {
    Tensor x = leaf({1, 2, 7}, -1, 1, 4), w = leaf({3, 2, 2}, -1, 1, 5), b = leaf({3}, -1, 1, 6);
    gradgradcheck([](const std::vector<Tensor>& v) { return tanh(conv1d(v[0], v[1], v[2], 2, 2, 0)); }, {x, w, b});
  }
}

TEST_CASE("conv1d: matches torch.nn.Conv1d with left and symmetric padding", "[engine][conv1d][golden]") {
  auto f = load_safetensors(std::string(CADENZA_SOURCE_DIR) + "/tests/golden/conv1d.safetensors");
  for (const char* name : {"causal_k2_d1", "causal_k2_d7", "causal_k3_d2", "same_k3_d1", "valid_k2_d64", "onebyone"}) {
    DYNAMIC_SECTION(name) {
      std::string p = std::string(name) + ".";
      auto cfg = f.at(p + "config").to_vector<int64_t>();
      Tensor x = f.at(p + "x"), w = f.at(p + "weight");
      Tensor b = f.contains(p + "bias") ? f.at(p + "bias") : Tensor();
      x.requires_grad_(true);
      w.requires_grad_(true);
      if (b.defined()) b.requires_grad_(true);
      Tensor y = conv1d(x, w, b, cfg[1], cfg[2], cfg[3]);
      double tol = x.dtype() == DType::f64 ? 1e-12 : 2e-5;
      auto close = [&](const Tensor& got, const Tensor& want, const char* what) {
        INFO(what << ": " << got.str() << " vs " << want.str());
        REQUIRE(got.shape() == want.shape());
        auto g = got.to_vector<double>(), e = want.to_vector<double>();
        for (size_t i = 0; i < g.size(); ++i) REQUIRE(std::fabs(g[i] - e[i]) <= tol * (1 + std::fabs(e[i])));
      };
      close(y, f.at(p + "y"), "output");
      sum(mul(y, f.at(p + "gy"))).backward();
      close(x.grad(), f.at(p + "dx"), "input gradient");
      close(w.grad(), f.at(p + "dweight"), "weight gradient");
      if (b.defined()) close(b.grad(), f.at(p + "dbias"), "bias gradient");
    }
  }
}

TEST_CASE("conv1d: the module has PyTorch's names and a causal one never looks ahead", "[engine][conv1d]") {
  nn::Conv1d conv(3, 4, 2, 8, 0, true, true);
  auto names = conv.named_parameters();
  REQUIRE(names.size() == 2);
  REQUIRE(names[0].first == "weight");
  REQUIRE(names[0].second.shape() == Shape{4, 3, 2});
  REQUIRE(names[1].first == "bias");
  Tensor x = randn({2, 3, 40});
  Tensor y = conv(x);
  REQUIRE(y.shape() == Shape{2, 4, 40});
  // Changing input step 25 changes no output before step 25.
  Tensor x2 = clone(x);
  x2.data<float>()[25] += 10.0f;
  Tensor y2 = conv(x2);
  auto a = y.to_vector<float>(), b = y2.to_vector<float>();
  for (int64_t t = 0; t < 25; ++t) REQUIRE(a[t] == b[t]);
  REQUIRE(a[25] != b[25]);
  REQUIRE(a[33] != b[33]);  // dilation 8: step 33 reads step 25
  nn::Conv1d same(3, 4, 3, 1, 1);
  REQUIRE(same(x).shape() == Shape{2, 4, 40});
  REQUIRE_THROWS_WITH(nn::Conv1d(3, 4, 2, 1, 1, true, true), Catch::Contains("causal"));
}

TEST_CASE("conv1d: bad shapes are named", "[engine][conv1d][errors]") {
  Tensor x = randn({2, 3, 10}), w = randn({4, 3, 2});
  REQUIRE_THROWS_WITH(conv1d(randn({3, 10}), w), Catch::Contains("input must be [B, Cin, T], got"));
  REQUIRE_THROWS_WITH(conv1d(x, randn({4, 5, 2})), Catch::Contains("does not fit input"));
  REQUIRE_THROWS_WITH(conv1d(x, w, randn({5})), Catch::Contains("bias"));
  REQUIRE_THROWS_WITH(conv1d(x, w, Tensor(), 20), Catch::Contains("too short for kernel 2 at dilation 20"));
  REQUIRE_THROWS_WITH(conv1d(x, w, Tensor(), 0), Catch::Contains("dilation must be >= 1"));
  REQUIRE_THROWS_WITH(conv1d(x, w, Tensor(), 1, -1), Catch::Contains("padding must be >= 0"));
  REQUIRE_THROWS_WITH(gated_activation(randn({2, 3, 4})), Catch::Contains("even number of channels"));
}

TEST_CASE("gated_activation: fused forward and backward equal tanh(a) * sigmoid(b)", "[engine][conv1d][grad]") {
  Tensor x = leaf({2, 6, 5}, -3, 3, 9);
  gradcheck([](const std::vector<Tensor>& v) { return gated_activation(v[0]); }, {x});
  gradgradcheck([](const std::vector<Tensor>& v) { return gated_activation(v[0]); }, {x});
  // The fused f32 kernels against the composite.
  Tensor xf = randn({3, 8, 33});
  xf.requires_grad_(true);
  Tensor y = gated_activation(xf);
  Tensor want = mul(tanh(narrow(xf, 1, 0, 4)), sigmoid(narrow(xf, 1, 4, 4)));
  auto a = y.to_vector<float>(), e = want.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) REQUIRE(std::fabs(a[i] - e[i]) <= 1e-6);
  Tensor g = randn(y.shape());
  auto fused = grad({sum(mul(y, g))}, {xf})[0].to_vector<float>();
  auto comp = grad({sum(mul(want, g))}, {xf})[0].to_vector<float>();
  for (size_t i = 0; i < fused.size(); ++i) REQUIRE(std::fabs(fused[i] - comp[i]) <= 1e-5);
}

TEST_CASE("gated_activation: the f32 kernels' exp, tanh and sigmoid are within a few ulp", "[engine][conv1d]") {
  double worst_exp = 0, worst_tanh = 0, worst_sig = 0;
  for (int i = -80000; i <= 80000; ++i) {
    const float x = static_cast<float>(i) * 1e-3f;
    worst_exp = std::max(worst_exp, std::fabs(kmath::fast_expf(x) / std::exp(static_cast<double>(x)) - 1));
    worst_tanh = std::max(worst_tanh, std::fabs(kmath::fast_tanhf(x) - std::tanh(static_cast<double>(x))));
    worst_sig = std::max(worst_sig, std::fabs(kmath::fast_sigmoidf(x) - 1 / (1 + std::exp(-static_cast<double>(x)))));
  }
  INFO("exp " << worst_exp << " tanh " << worst_tanh << " sigmoid " << worst_sig);
  REQUIRE(worst_exp < 5e-7);
  REQUIRE(worst_tanh < 5e-7);
  REQUIRE(worst_sig < 2e-7);
  REQUIRE(kmath::fast_expf(-200.f) < 1e-37f);
  REQUIRE(std::isfinite(kmath::fast_expf(200.f)));
  REQUIRE(kmath::fast_tanhf(50.f) == 1.0f);
  REQUIRE(kmath::fast_tanhf(-50.f) == -1.0f);
}
