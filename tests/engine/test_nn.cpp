// nn: modules, names, state_dict checks, init ranges, train/eval.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/nn.h"

using namespace cadenza;
using Catch::Matchers::Contains;

struct Net : nn::Module {
  Net() : Module("Net") {
    layers = register_module("layers", std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::Dropout>(0.5),
        std::make_shared<nn::Linear>(8, 3)}));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(Shape{3}));
    register_buffer("scale", Tensor::ones({1}));
  }
  Tensor forward(const Tensor& x) override { return norm->forward(layers->forward(x)); }
  std::shared_ptr<nn::Sequential> layers;
  std::shared_ptr<nn::LayerNorm> norm;
};

TEST_CASE("nn: hierarchical names in PyTorch order", "[nn]") {
  Net net;
  std::vector<std::string> names;
  for (auto& kv : net.state_dict()) names.push_back(kv.first);
  REQUIRE(names == std::vector<std::string>{"scale", "layers.0.weight", "layers.0.bias", "layers.2.weight",
                                            "layers.2.bias", "norm.weight", "norm.bias"});
  REQUIRE(net.named_parameters().size() == 6);
  REQUIRE(net.num_parameters() == 4 * 8 + 8 + 8 * 3 + 3 + 3 + 3);
}

TEST_CASE("nn: state_dict round trip and strict errors", "[nn]") {
  manual_seed(1);
  Net a;
  manual_seed(2);
  Net b;
  Tensor x = Tensor::ones({2, 4});
  a.eval();
  b.eval();
  REQUIRE(a(x).to_vector<float>() != b(x).to_vector<float>());
  b.load_state_dict(a.state_dict());
  REQUIRE(a(x).to_vector<float>() == b(x).to_vector<float>());
  auto sd = a.state_dict();
  sd.pop_back();
  REQUIRE_THROWS_WITH(b.load_state_dict(sd), Contains("missing keys: \"norm.bias\""));
  b.load_state_dict(sd, false);  // non-strict tolerates it
  auto sd2 = a.state_dict();
  sd2.emplace_back("extra.weight", Tensor::zeros({1}));
  REQUIRE_THROWS_WITH(b.load_state_dict(sd2), Contains("unexpected keys: \"extra.weight\""));
  auto sd3 = a.state_dict();
  sd3[1].second = Tensor::zeros({8, 5});
  REQUIRE_THROWS_WITH(b.load_state_dict(sd3), Contains("size mismatch for layers.0.weight") &&
                                                  Contains("[8, 5]") && Contains("[8, 4]"));
}

TEST_CASE("nn: default initialisation ranges", "[nn]") {
  manual_seed(3);
  nn::Linear l(100, 50);
  auto w = l.weight.to_vector<float>();
  float lo = *std::min_element(w.begin(), w.end()), hi = *std::max_element(w.begin(), w.end());
  REQUIRE(hi <= 0.1f);
  REQUIRE(lo >= -0.1f);
  REQUIRE(hi > 0.09f);  // spans the range
  nn::Embedding e(1000, 16, 0);
  auto ev = e.weight.to_vector<float>();
  double m = 0, s = 0;
  for (float v : ev) m += v;
  m /= ev.size();
  for (float v : ev) s += (v - m) * (v - m);
  s = std::sqrt(s / ev.size());
  REQUIRE(std::fabs(m) < 0.02);
  REQUIRE(std::fabs(s - 1) < 0.03);
  REQUIRE(e.weight.select(0, 0).to_vector<float>() == std::vector<float>(16, 0.f));
}

TEST_CASE("nn: train/eval switches dropout; to(f64) keeps handles", "[nn]") {
  manual_seed(4);
  Net net;
  Tensor x = Tensor::ones({64, 4});
  net.train();
  REQUIRE(net.layers->is_training());
  auto t1 = net(x).to_vector<float>();
  auto t2 = net(x).to_vector<float>();
  REQUIRE(t1 != t2);
  net.eval();
  REQUIRE_FALSE((*net.layers)[1]->is_training());
  REQUIRE(net(x).to_vector<float>() == net(x).to_vector<float>());
  net.to(DType::f64);
  REQUIRE(net.norm->weight.dtype() == DType::f64);
  REQUIRE(net(Tensor::ones({2, 4}, DType::f64)).dtype() == DType::f64);
}

TEST_CASE("nn: LayerNorm normalises the last dims", "[nn]") {
  nn::LayerNorm ln({4});
  Tensor y = ln(Tensor::from_vector<float>({1, 2, 3, 4, 10, 10, 10, 10}, {2, 4}));
  auto v = y.to_vector<float>();
  REQUIRE(v[0] == Approx(-1.3416).epsilon(1e-3));
  REQUIRE(v[4] == 0.0f);
  REQUIRE_THROWS_WITH(ln(Tensor::ones({2, 3})), Contains("normalized_shape"));
}
