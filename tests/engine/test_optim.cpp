// Optimizers against their update formulas; clipping; schedules; state.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "engine/optim.h"
#include "kernels/update_math.h"

using namespace cadenza;

static Tensor param(std::vector<double> v) {
  Tensor t = Tensor::from_vector<double>(v);
  t.requires_grad_(true);
  return t;
}

TEST_CASE("optim: SGD with momentum, Nesterov and weight decay", "[optim]") {
  Tensor p = param({1.0});
  optim::SGD sgd({p}, 0.1, 0.9, 0, 0.01, true);
  double x = 1.0, buf = 0;
  for (int i = 0; i < 3; ++i) {
    sgd.zero_grad();
    sum(p * p).backward();  // grad 2x
    sgd.step();
    double g = 2 * x + 0.01 * x;
    buf = i == 0 ? g : 0.9 * buf + g;
    x -= 0.1 * (g + 0.9 * buf);
    REQUIRE(p.item() == Approx(x).epsilon(1e-12));
  }
}

TEST_CASE("optim: Adam and AdamW follow torch.optim's formulas", "[optim]") {
  for (bool decoupled : {false, true}) {
    Tensor p = param({0.5, -1.5});
    std::unique_ptr<optim::Optimizer> opt;
    if (decoupled)
      opt = std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, 0.01, 0.9, 0.999, 1e-8, 0.1);
    else
      opt = std::make_unique<optim::Adam>(std::vector<Tensor>{p}, 0.01, 0.9, 0.999, 1e-8, 0.1);
    double x[2] = {0.5, -1.5}, m[2] = {0, 0}, v[2] = {0, 0};
    for (int t = 1; t <= 5; ++t) {
      opt->zero_grad();
      sum(p * p * p).backward();  // grad 3x^2
      opt->step();
      for (int k = 0; k < 2; ++k) {
        double g = 3 * x[k] * x[k];
        if (decoupled) x[k] *= 1 - 0.01 * 0.1; else g += 0.1 * x[k];
        m[k] = 0.9 * m[k] + 0.1 * g;
        v[k] = 0.999 * v[k] + 0.001 * g * g;
        double mh = m[k] / (1 - std::pow(0.9, t)), vh = v[k] / (1 - std::pow(0.999, t));
        x[k] -= 0.01 * mh / (std::sqrt(vh) + 1e-8);
      }
      auto pv = p.to_vector<double>();
      REQUIRE(pv[0] == Approx(x[0]).epsilon(1e-9));
      REQUIRE(pv[1] == Approx(x[1]).epsilon(1e-9));
    }
  }
}

TEST_CASE("optim: state_dict restores the exact trajectory", "[optim]") {
  auto loss = [](const Tensor& p) { return sum(exp(p) * p); };
  Tensor p = param({0.3, 0.7, -0.2});
  optim::Adam a({p}, 0.05);
  for (int i = 0; i < 6; ++i) {
    a.zero_grad();
    loss(p).backward();
    a.step();
  }
  Tensor q = param({0.3, 0.7, -0.2});
  optim::Adam b({q}, 0.05);
  for (int i = 0; i < 3; ++i) {
    b.zero_grad();
    loss(q).backward();
    b.step();
  }
  auto sd = b.state_dict();
  Tensor r = param(q.to_vector<double>());
  optim::Adam c({r}, 0.001);
  c.load_state_dict(sd);
  REQUIRE(c.lr() == 0.05);
  for (int i = 0; i < 3; ++i) {
    c.zero_grad();
    loss(r).backward();
    c.step();
  }
  REQUIRE(r.to_vector<double>() == p.to_vector<double>());
}

TEST_CASE("optim: clip_grad_norm scales to the max norm", "[optim]") {
  Tensor a = param({3, 0}), b = param({0, 4});
  sum(a * a * 0.5).backward();  // grad = a
  sum(b * b * 0.5).backward();
  double n = optim::clip_grad_norm({a, b}, 1.0);
  REQUIRE(n == Approx(5.0));
  REQUIRE(a.grad().to_vector<double>()[0] == Approx(0.6).epsilon(1e-5));
  REQUIRE(b.grad().to_vector<double>()[1] == Approx(0.8).epsilon(1e-5));
  REQUIRE(optim::clip_grad_norm({a, b}, 10.0) == Approx(1.0).epsilon(1e-5));
  REQUIRE(a.grad().to_vector<double>()[0] == Approx(0.6).epsilon(1e-5));  // unchanged
}

TEST_CASE("optim: learning-rate schedules", "[optim]") {
  optim::StepLR st(1.0, 10, 0.5);
  REQUIRE(st.lr_at(9) == 1.0);
  REQUIRE(st.lr_at(10) == 0.5);
  REQUIRE(st.lr_at(25) == 0.25);
  auto cos = std::make_shared<optim::CosineLR>(1.0, 100, 0.1);
  REQUIRE(cos->lr_at(0) == 1.0);
  REQUIRE(cos->lr_at(50) == Approx(0.55));
  REQUIRE(cos->lr_at(100) == Approx(0.1));
  optim::WarmupLR w(cos, 10);
  REQUIRE(w.lr_at(0) == Approx(0.1));
  REQUIRE(w.lr_at(9) == Approx(1.0));
  REQUIRE(w.lr_at(60) == Approx(0.55));
  REQUIRE_THROWS(optim::StepLR(1.0, 0, 0.5));
}

TEST_CASE("optim: bad parameters and state are refused", "[optim]") {
  Tensor p = Tensor::zeros({2});
  REQUIRE_THROWS_WITH(optim::Adam({p}), Catch::Contains("leaf tensor requiring grad"));
  Tensor q = param({1, 2});
  optim::Adam a({q});
  nn::StateDict sd{{"step", Tensor::from_vector<int64_t>({1})}, {"lr", Tensor::from_vector<double>({0.1})},
                   {"state.0.exp_avg", Tensor::zeros({3}, DType::f64)}};
  REQUIRE_THROWS_WITH(a.load_state_dict(sd), Catch::Contains("state.0.exp_avg has shape [3]"));
  REQUIRE_THROWS_WITH(a.load_state_dict({}), Catch::Contains("missing 'step'"));
}

TEST_CASE("optim: clip_grad_norm over mixed dtypes adds the sums in the parameters' order", "[optim]") {
  // f32, f64, f32, f64: two kernel calls (one per dtype); the norm is the
  // square root of the four sums added in this order, as one by one.
  std::vector<Tensor> ps;
  std::vector<double> want_sums;
  const std::vector<std::vector<double>> vals = {{1, 2}, {3}, {0.25, 0.5, 4}, {2, 2}};
  for (size_t i = 0; i < vals.size(); ++i) {
    const DType dt = i % 2 == 0 ? DType::f32 : DType::f64;
    Tensor p = Tensor::zeros({static_cast<int64_t>(vals[i].size())}, dt);
    p.requires_grad_(true);
    p.set_grad(Tensor::from_vector<double>(vals[i]).to(dt));
    ps.push_back(p);
    double s = 0;
    for (double v : vals[i]) s += v * v;
    want_sums.push_back(s);
  }
  double ss = 0;
  for (double s : want_sums) ss += s;
  REQUIRE(optim::clip_grad_norm(ps, 100.0) == std::sqrt(ss));
  const double n = optim::clip_grad_norm(ps, 1.0);
  REQUIRE(n == std::sqrt(ss));
  const double coef = 1.0 / (n + 1e-6);
  REQUIRE(ps[1].grad().to_vector<double>()[0] == Approx(3 * coef).epsilon(1e-12));
  REQUIRE(ps[2].grad().to_vector<double>()[2] == Approx(4 * coef).epsilon(1e-6));
}

TEST_CASE("optim: a tensor list's blocks cover each tensor's elements once, in order", "[optim]") {
  // The CUDA optimizer kernels' block map (kmath::list_entry, list_span),
  // walked here over every block of lists of 1 to 48 tensors.
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const int count = 1 + static_cast<int>(rng() % 48);
    const int64_t chunk = trial % 2 ? 1024 : 7;
    std::vector<int64_t> n(count), first(count + 1, 0);
    for (int e = 0; e < count; ++e) {
      n[e] = 1 + static_cast<int64_t>(rng() % (trial % 3 ? 5000 : 20));
      first[e + 1] = first[e] + (n[e] + chunk - 1) / chunk;
    }
    std::vector<int64_t> next(count, 0);  // each tensor's next element
    for (int64_t b = 0; b < first[count]; ++b) {
      const int e = kmath::list_entry(first.data(), count, b);
      REQUIRE(e >= 0);
      REQUIRE(e < count);
      REQUIRE(first[e] <= b);
      REQUIRE(b < first[e + 1]);
      int64_t begin, end;
      kmath::list_span(first.data(), n.data(), e, b, chunk, &begin, &end);
      REQUIRE(begin == next[e]);
      REQUIRE(end > begin);
      REQUIRE(end - begin <= chunk);
      next[e] = end;
    }
    REQUIRE(next == n);
  }
}
