// Whole computations against PyTorch goldens (tests/reference/make_golden.py).
// Tolerances: f32 values and gradients within 1e-5 absolute + 1e-5 relative;
// Adam trajectories within 1e-6.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/checkpoint.h"
#include "engine/optim.h"
#include "engine/rnn.h"

using namespace cadenza;

static LoadedTensors golden(const char* name) {
  return load_safetensors(std::string(CADENZA_SOURCE_DIR) + "/tests/golden/" + name);
}

static void require_close(const Tensor& got, const Tensor& want, double atol, double rtol,
                          const std::string& what) {
  INFO(what << ": got " << got.str() << ", want " << want.str());
  REQUIRE(got.shape() == want.shape());
  auto g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i << ": " << g[i] << " vs " << w[i]);
    if (std::isinf(w[i])) {
      REQUIRE(g[i] == w[i]);
    } else {
      REQUIRE(std::fabs(g[i] - w[i]) <= atol + rtol * std::fabs(w[i]));
    }
  }
}

TEST_CASE("golden: 2-layer MLP with cross-entropy matches PyTorch", "[golden]") {
  auto f = golden("mlp_cross_entropy.safetensors");
  Tensor x = f.at("x"), w1 = f.at("w1"), b1 = f.at("b1"), w2 = f.at("w2"), b2 = f.at("b2");
  for (Tensor* p : {&x, &w1, &b1, &w2, &b2}) p->requires_grad_(true);
  Tensor logits = linear(tanh(linear(x, w1, b1)), w2, b2);
  Tensor loss = cross_entropy(logits, f.at("target"));
  require_close(logits, f.at("logits"), 1e-5, 1e-5, "logits");
  require_close(loss.reshape({1}), f.at("loss"), 1e-6, 1e-5, "loss");
  loss.backward();
  require_close(x.grad(), f.at("grad.x"), 1e-6, 1e-5, "grad.x");
  require_close(w1.grad(), f.at("grad.w1"), 1e-6, 1e-5, "grad.w1");
  require_close(b1.grad(), f.at("grad.b1"), 1e-6, 1e-5, "grad.b1");
  require_close(w2.grad(), f.at("grad.w2"), 1e-6, 1e-5, "grad.w2");
  require_close(b2.grad(), f.at("grad.b2"), 1e-6, 1e-5, "grad.b2");
}

TEST_CASE("golden: log_softmax and logsumexp on extreme values match PyTorch", "[golden]") {
  // The reference is PyTorch in f64 on inputs that f32 holds exactly; cadenza
  // runs in both precisions.
  auto f = golden("softmax_extremes.safetensors");
  for (DType dt : {DType::f64, DType::f32}) {
    double tol = dt == DType::f64 ? 1e-12 : 2e-6;
    Tensor x = f.at("x").to(dt).detach();
    x.requires_grad_(true);
    Tensor ls = log_softmax(x, 1);
    Tensor lse = logsumexp(x, {1});
    // Values are ~1e4 in magnitude: a relative f32 tolerance for them.
    require_close(ls, f.at("log_softmax"), tol, dt == DType::f64 ? 1e-15 : 1e-7, "log_softmax");
    require_close(lse, f.at("logsumexp"), tol, dt == DType::f64 ? 1e-15 : 1e-7, "logsumexp");
    Tensor safe = where(isinf_mask(ls.detach()), Tensor::scalar(0, dt), ls);
    Tensor obj = sum(mul(safe, f.at("w").to(dt))) + sum(lse);
    obj.backward();
    require_close(x.grad(), f.at("grad.x"), tol, 0, "grad.x");
  }
}

TEST_CASE("golden: 10 Adam and AdamW steps match torch.optim", "[golden]") {
  auto f = golden("adam_steps.safetensors");
  for (std::string name : {"adam", "adamw"}) {
    Tensor p = f.at(name + ".init").clone();
    p.requires_grad_(true);
    std::unique_ptr<optim::Optimizer> opt;
    if (name == "adam")
      opt = std::make_unique<optim::Adam>(std::vector<Tensor>{p}, 0.01, 0.9, 0.999, 1e-8, 0.01);
    else
      opt = std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, 0.01, 0.9, 0.999, 1e-8, 0.1);
    Tensor traj = f.at(name + ".trajectory");
    for (int64_t s = 0; s < 10; ++s) {
      opt->zero_grad();
      Tensor loss = sum(pow(p, 4.0) - 2.0 * pow(p, 2.0) + sin(3.0 * p));
      loss.backward();
      opt->step();
      require_close(p.detach(), traj.select(0, s), 1e-6, 1e-6, name + " step " + std::to_string(s + 1));
    }
  }
}

TEST_CASE("golden: 2-layer LSTM and GRU match torch.nn within 1e-5", "[golden][rnn]") {
  for (std::string kind : {"lstm", "gru"}) {
    auto f = golden((kind + "_2layer.safetensors").c_str());
    nn::RNNBase rnn(kind, 7, 9, 2, true);
    nn::StateDict sd;
    for (auto& [name, t] : f.tensors)
      if (name.rfind("param.", 0) == 0) sd.emplace_back(name.substr(6), t);
    rnn.load_state_dict(sd);
    Tensor x = f.at("x"), h0 = f.at("h0"), c0 = kind == "lstm" ? f.at("c0") : Tensor();
    x.requires_grad_(true);
    h0.requires_grad_(true);
    if (c0.defined()) c0.requires_grad_(true);
    auto out = rnn.forward_rnn(x, h0, c0);
    require_close(out.output, f.at("output"), 1e-5, 1e-5, kind + " output");
    require_close(out.h_n, f.at("h_n"), 1e-5, 1e-5, kind + " h_n");
    Tensor obj = sum(out.output * f.at("w_out")) + sum(out.h_n * f.at("w_h"));
    if (c0.defined()) {
      require_close(out.c_n, f.at("c_n"), 1e-5, 1e-5, kind + " c_n");
      obj = obj + sum(out.c_n * f.at("w_c"));
    }
    obj.backward();
    require_close(x.grad(), f.at("grad.x"), 1e-5, 1e-5, kind + " grad.x");
    require_close(h0.grad(), f.at("grad.h0"), 1e-5, 1e-5, kind + " grad.h0");
    if (c0.defined()) require_close(c0.grad(), f.at("grad.c0"), 1e-5, 1e-5, kind + " grad.c0");
    for (auto& [name, p] : rnn.named_parameters())
      require_close(p.grad(), f.at("grad." + name), 1e-5, 1e-5, kind + " grad." + name);
  }
}
