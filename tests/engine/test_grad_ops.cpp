// Gradient checks (f64) for reductions, linear algebra, shape ops, indexing,
// softmax and losses; second order for reductions, matmul and linear.
#include "gradcheck.h"

using namespace cadenza;
using cadenza::test::gradcheck;
using cadenza::test::gradgradcheck;
using cadenza::test::leaf;
using V = std::vector<Tensor>;

TEST_CASE("grad: sum and mean over dims, keepdim", "[grad]") {
  Tensor x = leaf({5, 7, 11}, -1, 1, 21);
  gradcheck([](const V& v) { return sum(v[0]); }, {x});
  gradcheck([](const V& v) { return sum(v[0], {1}); }, {x});
  gradcheck([](const V& v) { return sum(v[0], {0, 2}, true); }, {x});
  gradcheck([](const V& v) { return mean(v[0], {-1}); }, {x});
  gradcheck([](const V& v) { return mean(transpose(v[0], 0, 2), {0, 1}, true); }, {x});
  gradgradcheck([](const V& v) { return mul(sum(v[0], {1}, true), v[0]); }, {x});
  gradgradcheck([](const V& v) { return mean(mul(v[0], v[0]), {0}); }, {x});
}

TEST_CASE("grad: max and min over dims", "[grad]") {
  Tensor x = leaf({5, 7, 13}, -1, 1, 22);  // random values: no ties
  gradcheck([](const V& v) { return max(v[0], {1}); }, {x});
  gradcheck([](const V& v) { return min(v[0], {0, 2}, true); }, {x});
  gradcheck([](const V& v) { return max(v[0]); }, {x});
}

TEST_CASE("grad: logsumexp and var", "[grad]") {
  Tensor x = leaf({5, 13}, -3, 3, 23);
  gradcheck([](const V& v) { return logsumexp(v[0], {1}); }, {x});
  gradcheck([](const V& v) { return logsumexp(v[0], {0}, true); }, {x});
  gradcheck([](const V& v) { return var(v[0], {1}); }, {x});
  gradgradcheck([](const V& v) { return logsumexp(v[0], {1}); }, {x});
}

TEST_CASE("grad: matmul 2-D, batched with broadcasting, 1-D", "[grad]") {
  Tensor a = leaf({5, 7}, -1, 1, 24), b = leaf({7, 11}, -1, 1, 25);
  gradcheck([](const V& v) { return matmul(v[0], v[1]); }, {a, b});
  gradgradcheck([](const V& v) { return matmul(v[0], v[1]); }, {a, b});
  Tensor ba = leaf({3, 1, 5, 7}, -1, 1, 26), bb = leaf({4, 7, 2}, -1, 1, 27);
  gradcheck([](const V& v) { return matmul(v[0], v[1]); }, {ba, bb});
  Tensor vec = leaf({7}, -1, 1, 28);
  gradcheck([](const V& v) { return matmul(v[0], v[1]); }, {a, vec});
  gradcheck([](const V& v) { return matmul(v[1], v[0]); }, {b, vec});
  // Transposed (non-contiguous) operands go to GEMM without a copy.
  Tensor at = leaf({7, 5}, -1, 1, 29);
  gradcheck([](const V& v) { return matmul(transpose(v[0], 0, 1), v[1]); }, {at, b});
  gradgradcheck([](const V& v) { return tanh(matmul(transpose(v[0], 0, 1), v[1])); }, {at, b});
}

TEST_CASE("grad: linear with and without bias, 3-D input", "[grad]") {
  Tensor x = leaf({3, 5, 7}, -1, 1, 30), w = leaf({11, 7}, -1, 1, 31), b = leaf({11}, -1, 1, 32);
  gradcheck([](const V& v) { return linear(v[0], v[1], v[2]); }, {x, w, b});
  gradcheck([](const V& v) { return linear(v[0], v[1]); }, {x, w});
  gradgradcheck([](const V& v) { return sigmoid(linear(v[0], v[1], v[2])); }, {x, w, b});
}

TEST_CASE("grad: linear over permuted, broadcast and strided 3-D and 4-D inputs", "[grad]") {
  // matmul folds [..., M, K] @ [K, N] into one GEMM over a's rows in their
  // storage order, whatever the order of its leading dims.
  Tensor w = leaf({11, 7}, -1, 1, 34), b = leaf({11}, -1, 1, 35);
  Tensor tb = leaf({5, 3, 7}, -1, 1, 36);     // [T, B, K] storage, used as [B, T, K]
  Tensor q = leaf({2, 5, 3, 7}, -1, 1, 37);   // a 4-D permutation
  Tensor e = leaf({1, 5, 7}, -1, 1, 38);      // broadcast over a leading dim (stride 0)
  Tensor kt = leaf({3, 7, 5}, -1, 1, 39);     // K not unit-stride: [B, K, T] used as [B, T, K]
  gradcheck([](const V& v) { return linear(transpose(v[0], 0, 1), v[1], v[2]); }, {tb, w, b});
  gradgradcheck([](const V& v) { return tanh(linear(transpose(v[0], 0, 1), v[1], v[2])); }, {tb, w, b});
  gradcheck([](const V& v) { return linear(permute(v[0], {2, 0, 1, 3}), v[1], v[2]); }, {q, w, b});
  gradcheck([](const V& v) { return linear(expand(v[0], {4, 5, 7}), v[1], v[2]); }, {e, w, b});
  gradcheck([](const V& v) { return linear(transpose(v[0], 1, 2), v[1], v[2]); }, {kt, w, b});
}

TEST_CASE("ops: matmul of a batch-first view of [T, B, K] storage is one GEMM, laid out as its input", "[ops]") {
  Tensor tb = Tensor::from_vector<double>(std::vector<double>(5 * 3 * 7, 0.0), {5, 3, 7});
  for (int64_t i = 0; i < tb.numel(); ++i) tb.data<double>()[i] = std::sin(0.37 * static_cast<double>(i));
  Tensor w = Tensor::from_vector<double>(std::vector<double>(7 * 4, 0.0), {7, 4});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<double>()[i] = std::cos(0.11 * static_cast<double>(i));
  Tensor y = matmul(transpose(tb, 0, 1), w);  // [3, 5, 4], stored as [5, 3, 4]
  REQUIRE(y.shape() == Shape{3, 5, 4});
  REQUIRE(y.strides() == Shape{4, 12, 1});
  Tensor want = matmul(contiguous(transpose(tb, 0, 1)), w);
  REQUIRE(contiguous(y).to_vector<double>() == want.to_vector<double>());
}

TEST_CASE("grad: views: reshape, permute, narrow, expand, squeeze", "[grad]") {
  Tensor x = leaf({5, 7, 1}, -1, 1, 33);
  gradcheck([](const V& v) { return reshape(v[0], {7, 5}); }, {x});
  gradcheck([](const V& v) { return reshape(transpose(v[0], 0, 1), {-1}); }, {x});
  gradcheck([](const V& v) { return permute(v[0], {2, 0, 1}); }, {x});
  gradcheck([](const V& v) { return narrow(v[0], 1, 2, 4); }, {x});
  gradcheck([](const V& v) { return select(v[0], 0, -1); }, {x});
  gradcheck([](const V& v) { return expand(v[0], {3, 5, 7, 4}); }, {x});
  gradcheck([](const V& v) { return unsqueeze(squeeze(v[0], 2), 0); }, {x});
  gradcheck([](const V& v) { return flatten(v[0], 1); }, {x});
  gradcheck([](const V& v) { return contiguous(transpose(v[0], 0, 1)); }, {x});
  gradcheck([](const V& v) { return clone(v[0]) * 2.0; }, {x});
}

TEST_CASE("grad: concat, stack, split, chunk, pad", "[grad]") {
  Tensor a = leaf({5, 7}, -1, 1, 34), b = leaf({5, 3}, -1, 1, 35), c = leaf({5, 7}, -1, 1, 36);
  gradcheck([](const V& v) { return concat({v[0], v[1]}, 1); }, {a, b});
  gradcheck([](const V& v) { return stack({v[0], transpose(transpose(v[1], 0, 1), 0, 1)}, 1); }, {a, c});
  gradcheck([](const V& v) {
    auto parts = split(v[0], 3, 1);  // 3, 3, 1
    return concat({parts[2] * 2.0, parts[0] * parts[1]}, 1);
  }, {a});
  gradcheck([](const V& v) {
    auto parts = chunk(v[0], 2, 0);  // 3, 2
    return sum(parts[0]) + sum(parts[1] * parts[1]);
  }, {a});
  gradcheck([](const V& v) { return pad(v[0], {2, 1, 0, 3}, 0.5); }, {a});
  gradgradcheck([](const V& v) { return pad(mul(v[0], v[0]), {1, 1}); }, {a});
}

TEST_CASE("grad: indexing ops", "[grad]") {
  Tensor x = leaf({5, 7}, -1, 1, 37), src = leaf({5, 4}, -1, 1, 38);
  Tensor idx = Tensor::from_vector<int64_t>({4, 0, 4, 2});
  gradcheck([idx](const V& v) { return index_select(v[0], 1, idx); }, {x});
  gradcheck([idx](const V& v) { return index_add(v[0], 1, idx, v[1]); }, {x, src});
  Tensor ids = Tensor::from_vector<int64_t>({1, 3, 3, 0, 4, 1}, {2, 3});
  gradcheck([ids](const V& v) { return embedding(v[0], ids); }, {x});
  Tensor gi = Tensor::from_vector<int64_t>({0, 6, 6, 1, 2, 3, 5, 4, 0, 0, 1, 2, 3, 4, 5}, {5, 3});
  gradcheck([gi](const V& v) { return gather(v[0], 1, gi); }, {x});
  Tensor s3 = leaf({5, 3}, -1, 1, 39);
  gradcheck([gi](const V& v) { return scatter_add(v[0], 1, gi, v[1]); }, {x, s3});
  Tensor mask = Tensor::from_vector<double>({1, 0, 0, 1, 1, 0, 1}, {7});
  Tensor y = leaf({5, 1}, -1, 1, 40);
  gradcheck([mask](const V& v) { return where(mask, v[0], v[1]); }, {x, y});
  gradcheck([mask](const V& v) { return masked_fill(v[0], mask, -2.0); }, {x});
}

TEST_CASE("grad: softmax and log_softmax along each dim", "[grad]") {
  Tensor x = leaf({5, 7, 3}, -3, 3, 41);
  for (int64_t d : {0, 1, 2}) {
    gradcheck([d](const V& v) { return softmax(v[0], d); }, {x});
    gradcheck([d](const V& v) { return log_softmax(v[0], d); }, {x});
  }
  gradgradcheck([](const V& v) { return log_softmax(v[0], 1); }, {x});
  gradgradcheck([](const V& v) { return softmax(v[0], -1); }, {x});
}

TEST_CASE("grad: losses", "[grad]") {
  Tensor logits = leaf({7, 5}, -2, 2, 42);
  Tensor t = Tensor::from_vector<int64_t>({0, 4, -100, 2, 2, 1, 3});
  gradcheck([t](const V& v) { return cross_entropy(v[0], t); }, {logits});
  gradcheck([t](const V& v) { return cross_entropy(v[0], t, -100, "sum"); }, {logits});
  gradcheck([](const V& v) { return cross_entropy(v[0], Tensor::from_vector<int64_t>({0, 4, 1, 2, 2, 1, 3}), 2, "none"); }, {logits});
  gradgradcheck([t](const V& v) { return cross_entropy(v[0], t); }, {logits});
  Tensor l3 = leaf({3, 5, 2}, -2, 2, 43);  // [N, C, d]
  Tensor t3 = Tensor::from_vector<int64_t>({0, 4, 1, 1, 3, 2}, {3, 2});
  gradcheck([t3](const V& v) { return cross_entropy(v[0], t3); }, {l3});
  gradgradcheck([t3](const V& v) { return cross_entropy(v[0], t3, -100, "sum"); }, {l3});
  Tensor l4 = leaf({2, 3, 2, 3}, -2, 2, 46);  // [N, C, d1, d2]
  Tensor t4 = Tensor::from_vector<int64_t>({0, 2, 1, 1, -100, 2, 0, 0, 1, 2, 2, 1}, {2, 2, 3});
  gradcheck([t4](const V& v) { return cross_entropy(v[0], t4); }, {l4});
  gradgradcheck([t4](const V& v) { return cross_entropy(v[0], t4); }, {l4});
  gradcheck([t](const V& v) { return nll_loss(log_softmax(v[0], 1), t); }, {logits});
  Tensor x = leaf({5, 7}, -3, 3, 44), y = leaf({5, 7}, 0, 1, 45);
  gradcheck([](const V& v) { return binary_cross_entropy_with_logits(v[0], v[1]); }, {x, y});
  gradcheck([](const V& v) { return binary_cross_entropy_with_logits(v[0], v[1], "sum"); }, {x, y});
  gradgradcheck([](const V& v) { return binary_cross_entropy_with_logits(v[0], v[1]); }, {x, y});
  gradcheck([](const V& v) { return mse_loss(v[0], v[1]); }, {x, y});
  gradcheck([](const V& v) { return l1_loss(v[0], v[1], "sum"); }, {x, y});
}

TEST_CASE("grad: dropout with a fixed generator, and dtype conversion", "[grad]") {
  Tensor x = leaf({5, 7}, -1, 1, 46);
  gradcheck([](const V& v) {
    Generator g(5);  // the same mask on every evaluation
    return dropout(v[0], 0.3, true, &g);
  }, {x});
  gradcheck([](const V& v) { return to_dtype(to_dtype(v[0], DType::f32), DType::f64); }, {x},
            1e-3, 1e-3);
}
