// WaveNet: the whole model against its PyTorch twin (tests/reference/
// wavenet.py, goldens by make_wavenet_golden.py) with and without both
// kinds of conditioning, in f64: logits, loss and every parameter gradient.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "models/wavenet.h"

using namespace cadenza;
using namespace cadenza::models;

namespace {

void require_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  INFO(what << ": got " << got.str() << ", want " << want.str());
  REQUIRE(got.shape() == want.shape());
  auto g = got.to_vector<double>(), w = want.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::fabs(g[i] - w[i]) / (1 + std::fabs(w[i])));
  INFO("worst relative difference " << worst);
  REQUIRE(worst <= tol);
}

}  // namespace

TEST_CASE("wavenet: logits, loss and every gradient match the PyTorch twin", "[models][wavenet][golden]") {
  auto f = load_safetensors(std::string(CADENZA_SOURCE_DIR) + "/tests/golden/wavenet.safetensors");
  for (const char* name : {"plain", "class", "mel", "both"}) {
    DYNAMIC_SECTION(name) {
      const std::string p = std::string(name) + ".";
      WaveNetConfig cfg = WaveNetConfig::from_json(f.metadata.at(p + "config"));
      WaveNet model(cfg);
      model.to(DType::f64);
      nn::StateDict sd;
      for (auto& kv : f.tensors)
        if (kv.first.rfind(p + "param.", 0) == 0) sd.emplace_back(kv.first.substr(p.size() + 6), kv.second);
      model.load_state_dict(sd);  // strict: the names are the twin's
      model.eval();
      Tensor x = f.at(p + "x");
      Tensor c = f.contains(p + "c") ? f.at(p + "c") : Tensor();
      Tensor g = f.contains(p + "g") ? f.at(p + "g") : Tensor();
      Tensor logits = model.forward_audio(x, c, g);
      require_close(logits, f.at(p + "logits"), 1e-12, "logits");
      const int64_t T = x.shape()[1];
      Tensor loss = cross_entropy(narrow(logits, 2, 0, T - 1), narrow(x, 1, 1, T - 1));
      require_close(reshape(loss, {1}), f.at(p + "loss"), 1e-12, "loss");
      loss.backward();
      for (auto& kv : model.named_parameters()) {
        Tensor grad = kv.second.grad();
        if (!grad.defined()) grad = Tensor::zeros(kv.second.shape(), DType::f64);
        require_close(grad, f.at(p + "grad." + kv.first), 1e-10, "gradient of " + kv.first);
      }
    }
  }
}

TEST_CASE("wavenet: config JSON, receptive field and errors", "[models][wavenet]") {
  WaveNetConfig cfg;
  REQUIRE(cfg.receptive_field() == 2 * 1023 + 1);  // 2 stacks of dilations 1..512, kernel 2
  REQUIRE(cfg.dilation(10) == 1);
  REQUIRE(cfg.dilation(19) == 512);
  cfg.cin_channels = cfg.n_mels = 80;
  cfg.upsample_scales = {4, 4, 16};
  WaveNetConfig back = WaveNetConfig::from_json(cfg.to_json());
  REQUIRE(back.to_json() == cfg.to_json());
  cfg.upsample_scales = {4, 4};
  REQUIRE_THROWS_WITH(cfg.validate(), Catch::Contains("upsample_scales must multiply to hop_length (256), got 16"));
  WaveNetConfig odd;
  odd.gate_channels = 7;
  REQUIRE_THROWS_AS(odd.validate(), OptionError);
  REQUIRE_THROWS_WITH(WaveNetConfig::from_json(R"({"model": "poly"})"), Catch::Contains("not a wavenet"));
  WaveNetConfig small;
  small.layers = 4;
  small.residual_channels = small.skip_channels = 4;
  small.gate_channels = 4;
  small.quantize = 8;
  WaveNet m(small);
  REQUIRE(m.forward_audio(Tensor::zeros({2, 9}, DType::i64)).shape() == Shape{2, 8, 9});
  REQUIRE_THROWS_WITH(m.forward_audio(Tensor::zeros({2, 9})), Catch::Contains("integer mu-law ids"));
  REQUIRE_THROWS_WITH(m.forward_audio(Tensor::zeros({2, 9}, DType::i64), Tensor::zeros({2, 3, 9})),
                      Catch::Contains("takes no mel"));
}
