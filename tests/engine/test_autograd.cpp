// Autograd semantics: accumulation, retain_graph, no_grad, detach,
// create_graph (double backward), autograd::grad, post-accumulate-grad hooks.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"

using namespace cadenza;
using Catch::Matchers::Contains;

static Tensor param(std::vector<double> v) {
  Tensor t = Tensor::from_vector<double>(v);
  t.requires_grad_(true);
  return t;
}

TEST_CASE("autograd: gradients accumulate until zero_grad", "[autograd]") {
  Tensor x = param({1, 2, 3});
  sum(x * x).backward();
  REQUIRE(x.grad().to_vector<double>() == std::vector<double>{2, 4, 6});
  sum(x * 3.0).backward();
  REQUIRE(x.grad().to_vector<double>() == std::vector<double>{5, 7, 9});
  x.zero_grad();
  REQUIRE_FALSE(x.grad().defined());
}

TEST_CASE("autograd: a tensor used twice gets both contributions", "[autograd]") {
  Tensor x = param({2});
  Tensor y = x * x + x;  // dy/dx = 2x + 1
  y.backward(Tensor::ones({1}, DType::f64));
  REQUIRE(x.grad().item() == 5);
  // Gradients of x+x land in x.grad once, as their sum, owned by the leaf.
  Tensor a = param({1, 1});
  sum(a + a).backward();
  REQUIRE(a.grad().to_vector<double>() == std::vector<double>{2, 2});
}

TEST_CASE("autograd: a leaf's .grad shares memory with nothing else", "[autograd]") {
  // A gradient no one else holds is taken without a copy; one an op handed
  // to two inputs (add gives both sides the same g), a view of a shared
  // buffer (concat's pieces) or the caller's own seed is copied, so that
  // changing a .grad in place (an optimizer, clipping) changes nothing else.
  Tensor a = param({1, 2, 3}), b = param({4, 5, 6}), c = param({7, 8}), d = param({9}), w = param({0.5, 0.25, 2});
  Tensor seed = Tensor::from_vector<double>({1, 2, 3});
  add(a, b).backward(seed);
  Tensor seed2 = Tensor::from_vector<double>({1, 1, 1, 1, 1, 1});
  concat({mul(w, w), c, d}, 0).backward(seed2);
  std::vector<Tensor> grads = {a.grad(), b.grad(), c.grad(), d.grad(), w.grad(), seed, seed2};
  for (size_t i = 0; i < grads.size(); ++i)
    for (size_t j = i + 1; j < grads.size(); ++j) REQUIRE(grads[i].storage() != grads[j].storage());
  for (Tensor g : {a.grad(), c.grad(), d.grad(), w.grad()})
    for (int64_t k = 0; k < g.numel(); ++k) g.data<double>()[k] *= 3;
  REQUIRE(b.grad().to_vector<double>() == std::vector<double>{1, 2, 3});
  REQUIRE(seed.to_vector<double>() == std::vector<double>{1, 2, 3});
  REQUIRE(seed2.to_vector<double>() == std::vector<double>(6, 1.0));
  REQUIRE(a.grad().to_vector<double>() == std::vector<double>{3, 6, 9});
  REQUIRE(w.grad().to_vector<double>() == std::vector<double>{3, 1.5, 12});
}

TEST_CASE("autograd: backward twice needs retain_graph", "[autograd]") {
  Tensor x = param({1, 2});
  Tensor y = sum(exp(x));
  y.backward(Tensor(), true);
  y.backward();
  REQUIRE(x.grad().to_vector<double>()[0] == Approx(2 * std::exp(1.0)));
  REQUIRE_THROWS_WITH(y.backward(), Contains("second time"));
}

TEST_CASE("autograd: errors on non-scalar outputs and outputs without history", "[autograd]") {
  Tensor x = param({1, 2});
  REQUIRE_THROWS_WITH((x * 2.0).backward(), Contains("one-element output"));
  REQUIRE_THROWS_WITH(Tensor::ones({1}).backward(), Contains("does not require grad"));
  REQUIRE_THROWS_WITH((x * 2.0).backward(Tensor::ones({3}, DType::f64)), Contains("does not match"));
}

TEST_CASE("autograd: NoGradGuard and detach cut history", "[autograd]") {
  Tensor x = param({1, 2});
  {
    NoGradGuard ng;
    Tensor y = x * 2.0;
    REQUIRE_FALSE(y.requires_grad());
  }
  Tensor d = (x * 2.0).detach();
  REQUIRE_FALSE(d.requires_grad());
  REQUIRE(d.storage() != nullptr);
  Tensor y = sum(x * d);  // d is a constant
  y.backward();
  REQUIRE(x.grad().to_vector<double>() == std::vector<double>{2, 4});
}

TEST_CASE("autograd: create_graph gives second derivatives", "[autograd]") {
  Tensor x = param({1.5, -2});
  Tensor y = sum(x * x * x);  // dy/dx = 3x^2, d2y/dx2 = 6x
  auto g = grad({y}, {x}, {}, true, true);
  REQUIRE(g[0].to_vector<double>()[0] == Approx(3 * 2.25));
  REQUIRE(g[0].requires_grad());
  sum(g[0]).backward();
  REQUIRE(x.grad().to_vector<double>()[0] == Approx(9.0));
  REQUIRE(x.grad().to_vector<double>()[1] == Approx(-12.0));
}

TEST_CASE("autograd: gradient penalty style double backward through linear", "[autograd]") {
  // || d/dx sum(tanh(W x)) ||^2 differentiated with respect to W.
  Tensor w = Tensor::from_vector<double>({0.3, -0.2, 0.5, 0.1}, {2, 2});
  w.requires_grad_(true);
  Tensor x = Tensor::from_vector<double>({0.7, -1.1}, {1, 2});
  x.requires_grad_(true);
  Tensor out = sum(tanh(linear(x, w)));
  Tensor gx = grad({out}, {x}, {}, true, true)[0];
  Tensor pen = sum(gx * gx);
  pen.backward();
  REQUIRE(w.grad().defined());
  // Finite difference on one weight.
  auto penalty = [&](double dw) {
    Tensor w2 = Tensor::from_vector<double>({0.3 + dw, -0.2, 0.5, 0.1}, {2, 2});
    Tensor x2 = x.detach();
    x2.requires_grad_(true);
    Tensor o = sum(tanh(linear(x2, w2)));
    Tensor g = grad({o}, {x2})[0];
    return sum(g * g).item();
  };
  double num = (penalty(1e-6) - penalty(-1e-6)) / 2e-6;
  REQUIRE(w.grad().to_vector<double>()[0] == Approx(num).epsilon(1e-6));
}

TEST_CASE("autograd: grad() leaves .grad alone and reports unused inputs", "[autograd]") {
  Tensor x = param({1}), z = param({3});
  Tensor y = sum(x * 4.0);
  auto g = grad({y}, {x, z}, {}, true);
  REQUIRE(g[0].item() == 4);
  REQUIRE_FALSE(g[1].defined());
  REQUIRE_FALSE(x.grad().defined());
  REQUIRE_THROWS_WITH(grad({y}, {z}, {}, true, false, false), Contains("not used"));
}

TEST_CASE("autograd: a post-accumulate-grad hook sees a leaf's final .grad, once per pass",
          "[autograd][hooks]") {
  // x reaches the loss through three edges taken at different times: the
  // mul inside exp, the mul after it, and the sum at the end.
  Tensor x = param({0.5, -1.0});
  int calls = 0;
  std::vector<double> seen;
  HookHandle h = register_post_accumulate_grad_hook(x, [&](const Tensor& leaf) {
    ++calls;
    REQUIRE(leaf.impl() == x.impl());
    seen = leaf.grad().to_vector<double>();
  });
  REQUIRE(h.active());
  auto loss = [&] { return sum(exp(x * 2.0) * x) + sum(x); };
  loss().backward();
  REQUIRE(calls == 1);
  // d/dx: (1 + 2x) e^{2x} + 1, all of it, not a partial sum.
  REQUIRE(seen.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    double v = std::vector<double>{0.5, -1.0}[i];
    REQUIRE(seen[i] == Approx((1 + 2 * v) * std::exp(2 * v) + 1));
  }
  REQUIRE(seen == x.grad().to_vector<double>());
  // A second pass fires again and sees the accumulated .grad.
  loss().backward();
  REQUIRE(calls == 2);
  REQUIRE(seen[0] == Approx(2 * ((1 + 1.0) * std::exp(1.0) + 1)));
}

TEST_CASE(
    "autograd: post-accumulate-grad hooks fire nearest the output first, and only for reached "
    "leaves",
    "[autograd][hooks]") {
  Tensor w1 = param({1.5}), w2 = param({-2}), w3 = param({0.25}), unused = param({7});
  Tensor x = Tensor::from_vector<double>({3});
  std::vector<std::string> order;
  std::vector<std::pair<Tensor, std::string>> named = {
      {w1, "w1"}, {w2, "w2"}, {w3, "w3"}, {unused, "unused"}};
  for (const auto& [t, name] : named)
    register_post_accumulate_grad_hook(t,
                                       [&order, n = name](const Tensor&) { order.push_back(n); });
  Tensor h1 = tanh(w1 * x), h2 = tanh(w2 * h1);
  sum(w3 * h2).backward();
  REQUIRE(order == std::vector<std::string>{"w3", "w2", "w1"});
  REQUIRE_FALSE(unused.grad().defined());
}

TEST_CASE("autograd: a leaf used twice in one op, or as an output itself, fires once",
          "[autograd][hooks]") {
  Tensor a = param({1, 2});
  int calls = 0;
  std::vector<double> seen;
  register_post_accumulate_grad_hook(a, [&](const Tensor& t) {
    ++calls;
    seen = t.grad().to_vector<double>();
  });
  sum(a * a).backward();
  REQUIRE(calls == 1);
  REQUIRE(seen == std::vector<double>{2, 4});
  // An output that is the leaf itself, beside one that depends on it.
  a.zero_grad();
  run_backward({sum(a * 3.0), a}, {Tensor(), Tensor::ones({2}, DType::f64)}, false, false);
  REQUIRE(calls == 2);
  REQUIRE(seen == std::vector<double>{4, 4});
}

TEST_CASE("autograd: a removed post-accumulate-grad hook stays quiet, and grad() fires none",
          "[autograd][hooks]") {
  Tensor x = param({2}), y = param({3});
  int x_calls = 0, y_calls = 0;
  HookHandle hx = register_post_accumulate_grad_hook(x, [&](const Tensor&) { ++x_calls; });
  register_post_accumulate_grad_hook(y, [&](const Tensor&) { ++y_calls; });
  Tensor out = sum(x * y);
  auto g = grad({out}, {x, y}, {}, true);
  REQUIRE(g[0].item() == 3);
  REQUIRE(x_calls == 0);  // grad() leaves .grad alone, and so the hooks
  REQUIRE(y_calls == 0);
  hx.remove();
  REQUIRE_FALSE(hx.active());
  hx.remove();  // twice is harmless
  out.backward();
  REQUIRE(x_calls == 0);
  REQUIRE(y_calls == 1);
  REQUIRE(x.grad().item() == 3);
  // Only leaves that require grad take hooks.
  REQUIRE_THROWS_WITH(register_post_accumulate_grad_hook(x * 2.0, [](const Tensor&) {}),
                      Contains("not a leaf"));
  REQUIRE_THROWS_WITH(register_post_accumulate_grad_hook(Tensor::ones({1}), [](const Tensor&) {}),
                      Contains("not a leaf"));
}
