#pragma once
// Whole-model golden comparisons: the worst |got - want| / (1 + |want|).
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <string>

#include "engine/tensor.h"

namespace cadenza::test {

inline void require_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  INFO(what << ": got " << got.str() << ", want " << want.str());
  REQUIRE(got.shape() == want.shape());
  auto g = got.to_vector<double>(), w = want.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::fabs(g[i] - w[i]) / (1 + std::fabs(w[i])));
  INFO("worst relative difference " << worst);
  REQUIRE(worst <= tol);
}

}  // namespace cadenza::test
