#pragma once
// Central-difference gradient checks in f64, first and second order.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/random.h"

namespace cadenza::test {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// f64 leaf with values uniform in [lo, hi), requiring grad.
inline Tensor leaf(const Shape& s, double lo = -1, double hi = 1, uint64_t seed = 1) {
  Generator g(seed);
  Tensor t = rand(s, DType::f64, &g);
  t = (t * (hi - lo) + lo).detach();
  t.requires_grad_(true);
  return t;
}

// Scalar objective: sum(f(x) * w) with fixed random w, so every output
// element's gradient matters.
inline Tensor objective(const Fn& f, const std::vector<Tensor>& xs, const Tensor& w) {
  Tensor y = f(xs);
  return sum(mul(y, w));
}

inline Tensor weights_for(const Fn& f, const std::vector<Tensor>& xs) {
  Tensor y;
  {
    NoGradGuard ng;
    y = f(xs);
  }
  Generator g(99);
  return rand(y.shape(), DType::f64, &g) * 2.0 - 1.0;
}

inline void check_close(double analytic, double numeric, double tol, const std::string& where) {
  INFO(where << " analytic=" << analytic << " numeric=" << numeric);
  REQUIRE(std::fabs(analytic - numeric) <= tol * (1 + std::fabs(numeric)));
}

// Checks autograd's gradient of f against central differences.
inline void gradcheck(const Fn& f, std::vector<Tensor> xs, double eps = 1e-6, double tol = 1e-6) {
  Tensor w = weights_for(f, xs);
  std::vector<Tensor> need;
  for (auto& x : xs)
    if (x.requires_grad()) need.push_back(x);
  Tensor L = objective(f, xs, w);
  auto grads = grad({L}, need, {}, false, false, true);
  size_t k = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].requires_grad()) continue;
    Tensor gi = grads[k++];
    std::vector<double> ga = gi.defined() ? gi.to_vector<double>()
                                          : std::vector<double>(xs[i].numel(), 0.0);
    double* p = xs[i].data<double>();
    for (int64_t j = 0; j < xs[i].numel(); ++j) {
      double orig = p[j];
      double lp, lm;
      {
        NoGradGuard ng;
        p[j] = orig + eps;
        lp = objective(f, xs, w).item();
        p[j] = orig - eps;
        lm = objective(f, xs, w).item();
        p[j] = orig;
      }
      check_close(ga[j], (lp - lm) / (2 * eps), tol,
                  "input " + std::to_string(i) + " element " + std::to_string(j));
    }
  }
}

// Checks the gradient of <grad_x L(x), v> (a Hessian-vector product) against
// central differences of the first-order gradient.
inline void gradgradcheck(const Fn& f, std::vector<Tensor> xs, double eps = 1e-6, double tol = 1e-5) {
  Tensor w = weights_for(f, xs);
  std::vector<Tensor> vs;
  for (size_t i = 0; i < xs.size(); ++i) {
    Generator g(7 + i);
    vs.push_back(rand(xs[i].shape(), DType::f64, &g) - 0.5);
  }
  auto hv = [&](bool create) {
    Tensor L = objective(f, xs, w);
    auto g = grad({L}, xs, {}, create, create, true);
    Tensor h = Tensor::zeros({}, DType::f64);
    for (size_t i = 0; i < xs.size(); ++i)
      if (g[i].defined()) h = add(h, sum(mul(g[i], vs[i])));
    return h;
  };
  Tensor H = hv(true);
  // create_graph must have recorded the first backward pass.
  REQUIRE(H.requires_grad());
  auto second = grad({H}, xs, {}, false, false, true);
  for (size_t i = 0; i < xs.size(); ++i) {
    std::vector<double> ga = second[i].defined() ? second[i].to_vector<double>()
                                                 : std::vector<double>(xs[i].numel(), 0.0);
    double* p = xs[i].data<double>();
    for (int64_t j = 0; j < xs[i].numel(); ++j) {
      double orig = p[j];
      p[j] = orig + eps;
      double hp = hv(false).item();
      p[j] = orig - eps;
      double hm = hv(false).item();
      p[j] = orig;
      check_close(ga[j], (hp - hm) / (2 * eps), tol,
                  "second order, input " + std::to_string(i) + " element " + std::to_string(j));
    }
  }
}

}  // namespace cadenza::test
