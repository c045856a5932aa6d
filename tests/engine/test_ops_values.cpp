// Forward values of ops against hand-computed results.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "engine/threading.h"

using namespace cadenza;

static std::vector<float> vec(const Tensor& t) { return t.to_vector<float>(); }

TEST_CASE("ops: broadcasting arithmetic", "[ops]") {
  Tensor a = Tensor::from_vector<float>({1, 2, 3}, {3, 1});
  Tensor b = Tensor::from_vector<float>({10, 20}, {2});
  REQUIRE(vec(a + b) == std::vector<float>{11, 21, 12, 22, 13, 23});
  REQUIRE(vec(b - a) == std::vector<float>{9, 19, 8, 18, 7, 17});
  REQUIRE(vec(a * 2.0) == std::vector<float>{2, 4, 6});
  REQUIRE(vec(1.0 / a)[1] == Approx(0.5));
  REQUIRE(vec(pow(a, 2.0)) == std::vector<float>{1, 4, 9});
  REQUIRE(vec(maximum(a, Tensor::scalar(2))) == std::vector<float>{2, 2, 3});
  REQUIRE(vec(gt(a, Tensor::scalar(1.5))) == std::vector<float>{0, 1, 1});
  REQUIRE(Tensor::from_vector<int64_t>({7, 9}).to_vector<int64_t>() == std::vector<int64_t>{7, 9});
  REQUIRE((Tensor::from_vector<int64_t>({7, 9}) * Tensor::scalar(2, DType::i64)).to_vector<int64_t>() ==
          std::vector<int64_t>{14, 18});
}

TEST_CASE("ops: activations", "[ops]") {
  Tensor x = Tensor::from_vector<double>({-1000, -1, 0, 1, 1000});
  auto s = sigmoid(x).to_vector<double>();
  REQUIRE(s[0] == 0.0);
  REQUIRE(s[2] == 0.5);
  REQUIRE(s[4] == 1.0);
  REQUIRE(s[3] == Approx(1 / (1 + std::exp(-1.0))));
  auto sp = softplus(x).to_vector<double>();
  REQUIRE(sp[4] == 1000);
  REQUIRE(sp[2] == Approx(std::log(2.0)));
  REQUIRE(relu(x).to_vector<double>() == std::vector<double>{0, 0, 0, 1, 1000});
  REQUIRE(leaky_relu(x, 0.1).to_vector<double>()[1] == Approx(-0.1));
  REQUIRE(clamp(x, -2.0, 2.0).to_vector<double>() == std::vector<double>{-2, -1, 0, 1, 2});
  REQUIRE(tanh(x).to_vector<double>()[0] == -1.0);
}

TEST_CASE("ops: reductions", "[ops]") {
  Tensor x = Tensor::from_vector<float>({1, 5, 3, 4, 2, 6}, {2, 3});
  REQUIRE(sum(x).item() == 21);
  REQUIRE(vec(sum(x, {0})) == std::vector<float>{5, 7, 9});
  REQUIRE(sum(x, {1}, true).shape() == Shape{2, 1});
  REQUIRE(vec(mean(x, {1})) == std::vector<float>{3, 4});
  REQUIRE(vec(max(x, {1})) == std::vector<float>{5, 6});
  REQUIRE(vec(min(x, {0})) == std::vector<float>{1, 2, 3});
  REQUIRE(argmax(x, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  REQUIRE(argmin(x, 0, true).shape() == Shape{1, 3});
  REQUIRE(var(x, {1}).to_vector<float>()[0] == Approx(4.0));
  // Sum over a strided (transposed) view, over non-adjacent dims.
  Tensor y = Tensor::arange(24, DType::f64).reshape({2, 3, 4});
  REQUIRE(sum(y, {0, 2}).to_vector<double>() == std::vector<double>{60, 92, 124});
  REQUIRE(sum(y.transpose(0, 2), {1}).to_vector<double>()[0] == 0 + 4 + 8);
}

TEST_CASE("ops: logsumexp and log_softmax on extreme values", "[ops]") {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor x = Tensor::from_vector<double>({1000, 1000, -inf, -inf, -1000, 0}, {3, 2});
  auto l = logsumexp(x, {1}).to_vector<double>();
  REQUIRE(l[0] == Approx(1000 + std::log(2.0)));
  REQUIRE(l[1] == -inf);
  REQUIRE(l[2] == Approx(0.0).margin(1e-12));
  auto ls = log_softmax(x, 1).to_vector<double>();
  REQUIRE(ls[0] == Approx(-std::log(2.0)));
  REQUIRE(ls[4] == Approx(-1000));
  auto sm = softmax(Tensor::from_vector<float>({1, 2, 3}), 0).to_vector<float>();
  REQUIRE(sm[0] + sm[1] + sm[2] == Approx(1.0));
  REQUIRE(sm[2] == Approx(std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0))));
}

TEST_CASE("ops: matmul against a naive loop, several layouts", "[ops]") {
  Tensor a = Tensor::arange(35, DType::f64).reshape({5, 7}) / 10.0;
  Tensor b = Tensor::arange(77, DType::f64).reshape({7, 11}) / 7.0;
  auto c = matmul(a, b).to_vector<double>();
  auto av = a.to_vector<double>(), bv = b.to_vector<double>();
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 11; ++j) {
      double s = 0;
      for (int k = 0; k < 7; ++k) s += av[i * 7 + k] * bv[k * 11 + j];
      REQUIRE(c[i * 11 + j] == Approx(s));
    }
  Tensor at = a.transpose(0, 1).contiguous().transpose(0, 1);  // column-major view
  REQUIRE(matmul(at, b).to_vector<double>() == c);
  Tensor bb = stack({b, b * 2.0}, 0);  // [2, 7, 11]
  auto cb = matmul(a, bb).to_vector<double>();
  REQUIRE(cb.size() == 110);
  REQUIRE(cb[55 + 3] == Approx(2 * c[3]));
  REQUIRE(matmul(Tensor::ones({7}, DType::f64), b).shape() == Shape{11});
}

TEST_CASE("ops: indexing", "[ops]") {
  Tensor x = Tensor::arange(12, DType::f32).reshape({3, 4});
  REQUIRE(vec(index_select(x, 0, Tensor::from_vector<int64_t>({2, 0}))) ==
          std::vector<float>{8, 9, 10, 11, 0, 1, 2, 3});
  REQUIRE(vec(gather(x, 1, Tensor::from_vector<int64_t>({3, 0, 1}, {3, 1}))) == std::vector<float>{3, 4, 9});
  Tensor acc = index_add(Tensor::zeros({3}), 0, Tensor::from_vector<int64_t>({1, 1, 2}),
                         Tensor::from_vector<float>({1, 2, 3}));
  REQUIRE(vec(acc) == std::vector<float>{0, 3, 3});
  Tensor m = Tensor::from_vector<int32_t>({1, 0, 0, 1});
  REQUIRE(vec(masked_fill(Tensor::ones({4}), m, -5)) == std::vector<float>{-5, 1, 1, -5});
  REQUIRE(vec(embedding(x, Tensor::from_vector<int32_t>({2}, {1, 1}))) == std::vector<float>{8, 9, 10, 11});
  REQUIRE(embedding(x, Tensor::from_vector<int32_t>({2, 1}, {1, 2})).shape() == Shape{1, 2, 4});
}

TEST_CASE("ops: concat, split, pad", "[ops]") {
  Tensor a = Tensor::from_vector<float>({1, 2}, {1, 2}), b = Tensor::from_vector<float>({3, 4}, {1, 2});
  REQUIRE(vec(concat({a, b}, 0)) == std::vector<float>{1, 2, 3, 4});
  REQUIRE(vec(concat({a, b}, 1)) == std::vector<float>{1, 2, 3, 4});
  REQUIRE(concat({a, b}, 1).shape() == Shape{1, 4});
  REQUIRE(stack({a, b}, 0).shape() == Shape{2, 1, 2});
  auto parts = split(Tensor::arange(5, DType::f32), 2, 0);
  REQUIRE(parts.size() == 3);
  REQUIRE(vec(parts[2]) == std::vector<float>{4});
  REQUIRE(chunk(Tensor::arange(5, DType::f32), 2, 0)[1].numel() == 2);
  REQUIRE(vec(pad(a, {1, 2}, 9)) == std::vector<float>{9, 1, 2, 9, 9});
  REQUIRE(pad(a, {0, 0, 1, 0}).shape() == Shape{2, 2});
}

TEST_CASE("ops: the fused cross_entropy equals nll_loss(log_softmax) bit for bit, and its gradient to rounding",
          "[ops]") {
  for (DType dt : {DType::f32, DType::f64}) {
    Generator g(3);
    Tensor x = mul(randn({37, 388}, dt, &g), Tensor::scalar(4.0, dt));
    x.requires_grad_();
    Tensor t = randint(0, 388, {37}, &g);
    t.data<int64_t>()[5] = -100;
    Tensor fused = cross_entropy(x, t, -100, "none"), composite = nll_loss(log_softmax(x, 1), t, -100, "none");
    REQUIRE(fused.to_vector<double>() == composite.to_vector<double>());
    Tensor gf = grad({cross_entropy(x, t)}, {x})[0], gc = grad({nll_loss(log_softmax(x, 1), t)}, {x})[0];
    const double tol = dt == DType::f32 ? 1e-7 : 1e-15;
    REQUIRE(max(abs(sub(gf, gc))).item() < tol);
    REQUIRE(max(abs(select(gf, 0, 5))).item() == 0);  // the ignored row
  }
}

TEST_CASE("ops: cross_entropy over [N, C, d...] in place equals it over the rows [N * d, C], bit for bit", "[ops]") {
  // The [N, C, d] logits are read with the class dim strided (no transposed
  // copy); each row's sums run in the same order as over a contiguous row,
  // so losses and gradients are the same numbers. d spans a tile of 64 rows
  // and a remainder; one target is ignored.
  for (DType dt : {DType::f32, DType::f64}) {
    Generator g(5);
    Tensor x = mul(randn({3, 37, 70}, dt, &g), Tensor::scalar(3.0, dt));
    x.requires_grad_();
    Tensor t = randint(0, 37, {3, 70}, &g);
    t.data<int64_t>()[100] = -100;
    Tensor rows = contiguous(transpose(x.detach(), 1, 2));  // [3, 70, 37]
    rows = reshape(rows, {210, 37});
    rows.requires_grad_();
    Tensor flat = reshape(t, {210});
    REQUIRE(cross_entropy(x, t, -100, "none").to_vector<double>() ==
            cross_entropy(rows, flat, -100, "none").to_vector<double>());
    Tensor gx = grad({cross_entropy(x, t, -100, "sum")}, {x})[0];
    Tensor gr = grad({cross_entropy(rows, flat, -100, "sum")}, {rows})[0];
    REQUIRE(gx.shape() == x.shape());
    REQUIRE(contiguous(transpose(gx, 1, 2)).to_vector<double>() == gr.to_vector<double>());
    // Four dims: d = 2 x 3.
    Tensor x4 = randn({2, 5, 2, 3}, dt, &g), t4 = randint(0, 5, {2, 2, 3}, &g);
    Tensor r4 = reshape(contiguous(permute(x4, {0, 2, 3, 1})), {12, 5});
    REQUIRE(cross_entropy(x4, t4, -100, "none").to_vector<double>() ==
            cross_entropy(r4, reshape(t4, {12}), -100, "none").to_vector<double>());
    // No rows: an empty batch, an empty d.
    for (const Shape& shape : {Shape{0, 5, 3}, Shape{2, 5, 0}}) {
      Tensor e = Tensor::zeros(shape, dt);
      e.requires_grad_();
      Shape ts = shape;
      ts.erase(ts.begin() + 1);
      Tensor ge = grad({cross_entropy(e, Tensor::zeros(ts, DType::i64), -100, "sum")}, {e})[0];
      REQUIRE(ge.shape() == shape);
    }
  }
}

TEST_CASE("ops: losses match hand computation", "[ops]") {
  Tensor logits = Tensor::from_vector<double>({1, 2, 3, 1, 1, 1}, {2, 3});
  Tensor t = Tensor::from_vector<int64_t>({2, 0});
  double l0 = -(3 - std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)));
  double l1 = std::log(3.0);
  REQUIRE(cross_entropy(logits, t).item() == Approx((l0 + l1) / 2));
  REQUIRE(cross_entropy(logits, t, -100, "sum").item() == Approx(l0 + l1));
  REQUIRE(cross_entropy(logits, Tensor::from_vector<int64_t>({2, -100})).item() == Approx(l0));
  REQUIRE(std::isnan(cross_entropy(logits, Tensor::from_vector<int64_t>({-100, -100})).item()));
  REQUIRE_THROWS_WITH(cross_entropy(logits, Tensor::from_vector<int64_t>({3, 0})),
                      Catch::Contains("out of range for 3 classes"));
  // The fused kernel names the first bad row (it is found on the device).
  REQUIRE_THROWS_WITH(cross_entropy(logits, Tensor::from_vector<int64_t>({0, -7})),
                      Catch::Contains("target -7 at position 1 is out of range"));
  Tensor x = Tensor::from_vector<double>({0, 100, -100}), y = Tensor::from_vector<double>({1, 0, 1});
  auto bce = binary_cross_entropy_with_logits(x, y, "none").to_vector<double>();
  REQUIRE(bce[0] == Approx(std::log(2.0)));
  REQUIRE(bce[1] == Approx(100));
  REQUIRE(bce[2] == Approx(100));
  REQUIRE(mse_loss(x, y).item() == Approx((1 + 10000 + 10201) / 3.0));
  REQUIRE(l1_loss(x, y, "sum").item() == Approx(1 + 100 + 101));
}

TEST_CASE("ops: results do not depend on the thread count", "[ops][threads]") {
  Tensor a = Tensor::arange(300000, DType::f32).reshape({600, 500}) / 1000.0;
  Tensor b = Tensor::arange(500 * 70, DType::f32).reshape({500, 70}) / 5000.0;
  int before = get_num_threads();
  set_num_threads(1);
  auto r1 = sum(exp(a / 100.0), {1}).to_vector<float>();
  auto m1 = matmul(a, b).to_vector<float>();
  set_num_threads(2);
  auto r2 = sum(exp(a / 100.0), {1}).to_vector<float>();
  auto m2 = matmul(a, b).to_vector<float>();
  set_num_threads(before);
  REQUIRE(r1 == r2);
  for (size_t i = 0; i < m1.size(); ++i) REQUIRE(m1[i] == Approx(m2[i]).epsilon(1e-5));
  REQUIRE_THROWS(set_num_threads(0));
}
