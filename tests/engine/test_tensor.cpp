// Tensor basics: factories, dtypes, views sharing storage, errors that name
// the op and the shapes.
#include <catch2/catch.hpp>

#include "engine/autograd.h"
#include "engine/ops.h"

using namespace cadenza;
using Catch::Matchers::Contains;

TEST_CASE("tensor: factories and dtypes", "[tensor]") {
  Tensor z = Tensor::zeros({2, 3}, DType::f64);
  REQUIRE(z.dtype() == DType::f64);
  REQUIRE(z.shape() == Shape{2, 3});
  REQUIRE(z.strides() == Shape{3, 1});
  REQUIRE(z.to_vector<double>() == std::vector<double>(6, 0.0));
  REQUIRE(Tensor::full({2}, 7, DType::i32).to_vector<int32_t>() == std::vector<int32_t>{7, 7});
  REQUIRE(Tensor::arange(4).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3});
  REQUIRE(Tensor::scalar(2.5).dim() == 0);
  REQUIRE(Tensor::scalar(2.5).item() == 2.5);
  Tensor e = Tensor::empty({0, 5});
  REQUIRE(e.numel() == 0);
  REQUIRE(sum(e).item() == 0.0);
  REQUIRE_THROWS_WITH(Tensor::empty({2, -1}), Contains("negative dimension"));
  REQUIRE_THROWS_WITH(Tensor::from_vector<float>({1, 2, 3}, {2, 2}), Contains("do not fill shape [2, 2]"));
  REQUIRE_THROWS_WITH(z.data<float>(), Contains("expected a f32 tensor, got f64[2, 3]"));
  REQUIRE_THROWS_WITH(z.item(), Contains("exactly one value"));
}

TEST_CASE("tensor: conversions between dtypes", "[tensor]") {
  Tensor f = Tensor::from_vector<float>({1.5f, -2.7f, 3.0f});
  REQUIRE(f.to(DType::i64).to_vector<int64_t>() == std::vector<int64_t>{1, -2, 3});
  REQUIRE(f.to(DType::f64).to_vector<double>()[0] == 1.5);
  REQUIRE(Tensor::from_vector<int32_t>({3, 4}).to(DType::f32).to_vector<float>() ==
          std::vector<float>{3, 4});
}

TEST_CASE("tensor: views share storage; contiguous copies", "[tensor]") {
  Tensor x = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor t = x.transpose(0, 1);
  REQUIRE(t.shape() == Shape{3, 2});
  REQUIRE_FALSE(t.is_contiguous());
  REQUIRE(t.storage() == x.storage());
  REQUIRE(t.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  Tensor n = x.narrow(1, 1, 2);
  REQUIRE(n.to_vector<float>() == std::vector<float>{1, 2, 4, 5});
  REQUIRE(n.storage() == x.storage());
  Tensor r = x.reshape({3, 2});
  REQUIRE(r.storage() == x.storage());  // contiguous: a view
  Tensor c = t.contiguous();
  REQUIRE(c.is_contiguous());
  REQUIRE(c.storage() != x.storage());
  REQUIRE(t.reshape({6}).to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  // Writing through a view changes the base.
  n.fill_(9);
  REQUIRE(x.to_vector<float>() == std::vector<float>{0, 9, 9, 3, 9, 9});
  Tensor e = Tensor::from_vector<float>({1, 2}, {2, 1}).expand({2, 3});
  REQUIRE(e.strides()[1] == 0);
  REQUIRE(e.to_vector<float>() == std::vector<float>{1, 1, 1, 2, 2, 2});
  REQUIRE(x.permute({1, 0}).shape() == Shape{3, 2});
  REQUIRE(x.unsqueeze(1).shape() == Shape{2, 1, 3});
  REQUIRE(x.unsqueeze(1).squeeze(1).shape() == Shape{2, 3});
  REQUIRE(x.select(1, 2).to_vector<float>() == std::vector<float>{9, 9});
}

TEST_CASE("tensor: shape errors name the op and the shapes", "[tensor]") {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 3});
  REQUIRE_THROWS_WITH(add(a, b), Contains("add") && Contains("[2, 3]") && Contains("[4, 3]"));
  REQUIRE_THROWS_WITH(matmul(a, b), Contains("matmul: inner dimensions differ"));
  REQUIRE_THROWS_WITH(add(a, Tensor::zeros({2, 3}, DType::f64)), Contains("dtype mismatch"));
  REQUIRE_THROWS_WITH(a.view({4, 2}), Contains("does not fit the 6 elements"));
  REQUIRE_THROWS_WITH(a.transpose(0, 1).view({6}), Contains("not contiguous"));
  REQUIRE_THROWS_WITH(a.narrow(1, 2, 2), Contains("outside dim 1"));
  REQUIRE_THROWS_WITH(sum(a, {2}), Contains("dim 2 is out of range"));
  REQUIRE_THROWS_WITH(concat({a, Tensor::zeros({2, 3, 1})}, 0), Contains("different rank"));
  REQUIRE_THROWS_WITH(index_select(a, 1, Tensor::from_vector<int64_t>({3})), Contains("index 3 is out of range"));
  REQUIRE_THROWS_WITH(linear(a, Tensor::zeros({4, 2})), Contains("in_features=2"));
  REQUIRE_THROWS_WITH(exp(Tensor::zeros({2}, DType::i64)), Contains("expected a floating tensor"));
  REQUIRE_THROWS_WITH(add(Tensor(), a), Contains("undefined"));
}

TEST_CASE("tensor: in-place changes of tensors requiring grad are refused", "[tensor]") {
  Tensor w = Tensor::zeros({3});
  w.requires_grad_(true);
  REQUIRE_THROWS_WITH(w.fill_(1), Contains("NoGradGuard"));
  {
    NoGradGuard ng;
    w.fill_(1);
  }
  REQUIRE(w.to_vector<float>() == std::vector<float>{1, 1, 1});
  REQUIRE_THROWS(Tensor::zeros({2}, DType::i32).requires_grad_(true));
}
