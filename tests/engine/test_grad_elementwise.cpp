// Gradient checks (f64, central differences) for elementwise ops, on odd
// shapes, size-1 dims, broadcasting and non-contiguous views.
#include "gradcheck.h"

using namespace cadenza;
using cadenza::test::gradcheck;
using cadenza::test::gradgradcheck;
using cadenza::test::leaf;
using V = std::vector<Tensor>;

TEST_CASE("grad: add/sub/mul/div broadcast over odd shapes", "[grad]") {
  Tensor a = leaf({5, 1, 13}, -1, 1, 1), b = leaf({7, 1}, 0.5, 2, 2);
  gradcheck([](const V& x) { return add(x[0], x[1]); }, {a, b});
  gradcheck([](const V& x) { return sub(x[0], x[1]); }, {a, b});
  gradcheck([](const V& x) { return mul(x[0], x[1]); }, {a, b});
  gradcheck([](const V& x) { return div(x[0], x[1]); }, {a, b});
  gradgradcheck([](const V& x) { return mul(x[0], x[1]); }, {a, b});
  gradgradcheck([](const V& x) { return div(x[0], x[1]); }, {a, b});
}

TEST_CASE("grad: binary ops on non-contiguous views and scalars", "[grad]") {
  Tensor a = leaf({7, 5}, -1, 1, 3), b = leaf({5, 7}, 0.5, 2, 4);
  gradcheck([](const V& x) { return mul(transpose(x[0], 0, 1), x[1]); }, {a, b});
  gradcheck([](const V& x) { return div(x[1], transpose(x[0], 0, 1) + 3.0); }, {a, b});
  gradcheck([](const V& x) { return 2.0 - x[0] * 3.0 / (x[0] * x[0] + 1.0); }, {a});
}

TEST_CASE("grad: pow with tensor and scalar exponents", "[grad]") {
  Tensor a = leaf({5, 7}, 0.5, 2, 5), b = leaf({7}, -1, 2, 6);
  gradcheck([](const V& x) { return pow(x[0], x[1]); }, {a, b});
  gradcheck([](const V& x) { return pow(x[0], 3.0); }, {a});
  gradcheck([](const V& x) { return pow(x[0], -1.5); }, {a});
  gradgradcheck([](const V& x) { return pow(x[0], x[1]); }, {a, b});
  gradgradcheck([](const V& x) { return pow(x[0], 2.5); }, {a});
}

TEST_CASE("grad: maximum and minimum", "[grad]") {
  Tensor a = leaf({11, 1}, -1, 1, 7), b = leaf({1, 13}, -1, 1, 8);
  gradcheck([](const V& x) { return maximum(x[0], x[1]); }, {a, b});
  gradcheck([](const V& x) { return minimum(x[0], x[1]); }, {a, b});
}

TEST_CASE("grad: unary math", "[grad]") {
  Tensor x = leaf({5, 7}, -2, 2, 9), p = leaf({13, 1}, 0.2, 3, 10);
  gradcheck([](const V& v) { return neg(v[0]); }, {x});
  gradcheck([](const V& v) { return exp(v[0]); }, {x});
  gradcheck([](const V& v) { return log(v[0]); }, {p});
  gradcheck([](const V& v) { return log1p(v[0]); }, {p});
  gradcheck([](const V& v) { return sqrt(v[0]); }, {p});
  gradcheck([](const V& v) { return rsqrt(v[0]); }, {p});
  gradcheck([](const V& v) { return tanh(v[0]); }, {x});
  gradcheck([](const V& v) { return sin(v[0]); }, {x});
  gradcheck([](const V& v) { return cos(v[0]); }, {x});
  gradcheck([](const V& v) { return sigmoid(v[0]); }, {x});
  gradcheck([](const V& v) { return softplus(v[0]); }, {x});
  gradcheck([](const V& v) { return softplus(v[0], 2.0, 1.0); }, {x});  // both regions
}

TEST_CASE("grad: piecewise ops away from their kinks", "[grad]") {
  // Values kept at least 0.05 away from 0 and from the clamp bounds.
  std::vector<double> vals;
  for (int i = 0; i < 35; ++i) vals.push_back((i % 2 ? 1 : -1) * (0.1 + 0.05 * i));
  Tensor x = Tensor::from_vector<double>(vals, {5, 7});
  x.requires_grad_(true);
  gradcheck([](const V& v) { return abs(v[0]); }, {x});
  gradcheck([](const V& v) { return relu(v[0]); }, {x});
  gradcheck([](const V& v) { return leaky_relu(v[0], 0.2); }, {x});
  gradcheck([](const V& v) { return clamp(v[0], -0.73, 0.61); }, {x});
  gradcheck([](const V& v) { return clamp(v[0], std::nullopt, 0.61); }, {x});
}

TEST_CASE("grad: second order through elementwise ops", "[grad][second]") {
  Tensor x = leaf({5, 7}, -2, 2, 11), p = leaf({7}, 0.2, 3, 12);
  gradgradcheck([](const V& v) { return exp(v[0]); }, {x});
  gradgradcheck([](const V& v) { return tanh(v[0]); }, {x});
  gradgradcheck([](const V& v) { return sin(v[0]) * cos(v[0]); }, {x});
  gradgradcheck([](const V& v) { return sigmoid(v[0]); }, {x});
  gradgradcheck([](const V& v) { return softplus(v[0]); }, {x});
  gradgradcheck([](const V& v) { return log(v[0]); }, {p});
  gradgradcheck([](const V& v) { return sqrt(v[0]); }, {p});
  gradgradcheck([](const V& v) { return rsqrt(v[0]); }, {p});
  gradgradcheck([](const V& v) { return log1p(v[0]); }, {p});
  gradgradcheck([](const V& v) { return mul(v[0], v[1]) / (v[1] + 1.0); }, {x, p});
}

TEST_CASE("grad: size-1 dims and 0-d tensors", "[grad]") {
  Tensor s = leaf({}, 0.5, 1, 13), x = leaf({1, 7, 1}, -1, 1, 14);
  gradcheck([](const V& v) { return mul(v[0], v[1]); }, {s, x});
  gradcheck([](const V& v) { return exp(v[0] * v[1]); }, {s, x});
}
