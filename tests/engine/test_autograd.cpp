// Autograd semantics: accumulation, retain_graph, no_grad, detach,
// create_graph (double backward), autograd::grad.
#include <catch2/catch.hpp>

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
