// LSTM / GRU: f64 gradient checks (two layers, odd sizes, initial state),
// and agreement between the module and a step-by-step composite of ops.
#include "gradcheck.h"
#include "engine/rnn.h"
#include "engine/threading.h"

using namespace cadenza;
using cadenza::test::gradcheck;
using cadenza::test::leaf;
using V = std::vector<Tensor>;

TEST_CASE("rnn: lstm_layer gradients, with initial state", "[grad][rnn]") {
  const int64_t T = 5, B = 3, I = 7, H = 5;
  Tensor x = leaf({T, B, I}, -1, 1, 1), h0 = leaf({B, H}, -1, 1, 2), c0 = leaf({B, H}, -1, 1, 3);
  Tensor wi = leaf({4 * H, I}, -0.5, 0.5, 4), wh = leaf({4 * H, H}, -0.5, 0.5, 5);
  Tensor bi = leaf({4 * H}, -0.5, 0.5, 6), bh = leaf({4 * H}, -0.5, 0.5, 7);
  gradcheck([](const V& v) { return lstm_layer(v[0], v[1], v[2], v[3], v[4], v[5], v[6]); },
            {x, h0, c0, wi, wh, bi, bh});
  gradcheck([](const V& v) { return lstm_layer(v[0], Tensor(), Tensor(), v[1], v[2], Tensor(), Tensor()); },
            {x, wi, wh});
}

TEST_CASE("rnn: gru_layer gradients, with initial state", "[grad][rnn]") {
  const int64_t T = 5, B = 3, I = 7, H = 5;
  Tensor x = leaf({T, B, I}, -1, 1, 11), h0 = leaf({B, H}, -1, 1, 12);
  Tensor wi = leaf({3 * H, I}, -0.5, 0.5, 14), wh = leaf({3 * H, H}, -0.5, 0.5, 15);
  Tensor bi = leaf({3 * H}, -0.5, 0.5, 16), bh = leaf({3 * H}, -0.5, 0.5, 17);
  gradcheck([](const V& v) { return gru_layer(v[0], v[1], v[2], v[3], v[4], v[5]); }, {x, h0, wi, wh, bi, bh});
}

TEST_CASE("rnn: the layers with given gate inputs, gradients and agreement", "[grad][rnn]") {
  const int64_t T = 4, B = 3, H = 5;
  Tensor g4 = leaf({T, B, 4 * H}, -1, 1, 31), g3 = leaf({T, B, 3 * H}, -1, 1, 32);
  Tensor h0 = leaf({B, H}, -1, 1, 33), c0 = leaf({B, H}, -1, 1, 34);
  Tensor wh4 = leaf({4 * H, H}, -0.5, 0.5, 35), wh3 = leaf({3 * H, H}, -0.5, 0.5, 36);
  Tensor bh3 = leaf({3 * H}, -0.5, 0.5, 37);
  gradcheck([](const V& v) { return lstm_layer_gates(v[0], v[1], v[2], v[3]); }, {g4, h0, c0, wh4});
  gradcheck([](const V& v) { return lstm_layer_gates(v[0], Tensor(), Tensor(), v[1]); }, {g4, wh4});
  gradcheck([](const V& v) { return gru_layer_gates(v[0], v[1], v[2], v[3]); }, {g3, h0, wh3, bh3});
  gradcheck([](const V& v) { return gru_layer_gates(v[0], Tensor(), v[1], Tensor()); }, {g3, wh3});

  // With gates = x W_ih^T + biases they are the full layers.
  const int64_t I = 6;
  Tensor x = leaf({T, B, I}, -1, 1, 38), wi4 = leaf({4 * H, I}, -0.5, 0.5, 39), wi3 = leaf({3 * H, I}, -0.5, 0.5, 40);
  Tensor bi4 = leaf({4 * H}, -0.5, 0.5, 41), bh4 = leaf({4 * H}, -0.5, 0.5, 42), bi3 = leaf({3 * H}, -0.5, 0.5, 43);
  auto close = [](const Tensor& a, const Tensor& b) {
    auto va = a.to_vector<double>(), vb = b.to_vector<double>();
    REQUIRE(va.size() == vb.size());
    for (size_t i = 0; i < va.size(); ++i) REQUIRE(va[i] == Approx(vb[i]).epsilon(1e-12).margin(1e-14));
  };
  close(lstm_layer_gates(matmul(x, transpose(wi4, 0, 1)) + bi4 + bh4, h0, c0, wh4),
        lstm_layer(x, h0, c0, wi4, wh4, bi4, bh4));
  close(gru_layer_gates(matmul(x, transpose(wi3, 0, 1)) + bi3, h0, wh3, bh3), gru_layer(x, h0, wi3, wh3, bi3, bh3));
  REQUIRE_THROWS_WITH(lstm_layer_gates(g3, h0, c0, wh4), Catch::Contains("gates must be [T, B, 20]"));
  REQUIRE_THROWS_WITH(gru_layer_gates(g3, narrow(c0, 1, 0, 4), wh3, bh3), Catch::Contains("initial state"));
}

TEST_CASE("rnn: two-layer LSTM and GRU modules, batch-first, gradients of all outputs", "[grad][rnn]") {
  for (std::string mode : {"lstm", "gru"}) {
    manual_seed(5);
    nn::RNNBase rnn(mode, 7, 5, 2, true, 0.0, true, DType::f64);
    Tensor x = leaf({3, 5, 7}, -1, 1, 21), h0 = leaf({2, 3, 5}, -1, 1, 22), c0 = leaf({2, 3, 5}, -1, 1, 23);
    auto params = rnn.parameters();
    V inputs{x, h0};
    if (mode == "lstm") inputs.push_back(c0);
    for (auto& p : params) inputs.push_back(p);
    bool lstm = mode == "lstm";
    gradcheck([&rnn, lstm](const V& v) {
      auto out = rnn.forward_rnn(v[0], v[1], lstm ? v[2] : Tensor());
      Tensor y = concat({reshape(out.output, {-1}), reshape(out.h_n, {-1})}, 0);
      if (lstm) y = concat({y, reshape(out.c_n, {-1})}, 0);
      return y;
    }, inputs);
  }
}

TEST_CASE("rnn: fused LSTM equals the textbook cell built from ops", "[rnn]") {
  manual_seed(7);
  nn::LSTM lstm(4, 6, 1, false, 0.0, true, DType::f64);
  Generator g(3);
  Tensor x = randn({9, 2, 4}, DType::f64, &g);
  auto out = lstm.forward_rnn(x);
  Tensor h = Tensor::zeros({2, 6}, DType::f64), c = Tensor::zeros({2, 6}, DType::f64);
  for (int64_t t = 0; t < 9; ++t) {
    Tensor gates = linear(select(x, 0, t), lstm.w_ih[0], lstm.b_ih[0]) + linear(h, lstm.w_hh[0], lstm.b_hh[0]);
    auto q = chunk(gates, 4, 1);
    c = sigmoid(q[1]) * c + sigmoid(q[0]) * tanh(q[2]);
    h = sigmoid(q[3]) * tanh(c);
    auto got = select(out.output, 0, t).to_vector<double>(), want = h.to_vector<double>();
    for (size_t i = 0; i < want.size(); ++i) REQUIRE(got[i] == Approx(want[i]).epsilon(1e-12));
  }
  auto cn = select(out.c_n, 0, 0).to_vector<double>(), cw = c.to_vector<double>();
  for (size_t i = 0; i < cw.size(); ++i) REQUIRE(cn[i] == Approx(cw[i]).epsilon(1e-12));
}

TEST_CASE("rnn: bad shapes are named", "[rnn]") {
  nn::LSTM lstm(4, 6, 2, true);
  REQUIRE_THROWS_WITH(lstm.forward_rnn(Tensor::zeros({2, 3})), Catch::Contains("[B, T, in]"));
  REQUIRE_THROWS_WITH(lstm.forward_rnn(Tensor::zeros({2, 3, 5})), Catch::Contains("weight_ih"));
  REQUIRE_THROWS_WITH(lstm.forward_rnn(Tensor::zeros({2, 3, 4}), Tensor::zeros({1, 2, 6})),
                      Catch::Contains("h0 f32[1, 2, 6] should be [2, 2, 6]"));
  std::vector<std::string> names;
  for (auto& kv : lstm.state_dict()) names.push_back(kv.first);
  REQUIRE(names == std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                            "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"});
}

TEST_CASE("rnn: the unit-parallel recurrence equals the single-thread one", "[rnn][threads]") {
  // H = 128, B = 4 is large enough for the kernels to split the units.
  for (std::string mode : {"lstm", "gru"}) {
    auto run = [&](int threads) {
      int before = get_num_threads();
      set_num_threads(threads);
      manual_seed(11);
      nn::RNNBase rnn(mode, 24, 128, 2, false, 0.0, true, DType::f64);
      Generator g(12);
      Tensor x = randn({9, 4, 24}, DType::f64, &g);
      x.requires_grad_(true);
      auto out = rnn.forward_rnn(x);
      Tensor w = randn(out.output.shape(), DType::f64, &g);
      sum(out.output * w).backward();
      std::vector<double> all = out.output.to_vector<double>();
      for (auto& p : rnn.parameters()) {
        auto v = p.grad().to_vector<double>();
        all.insert(all.end(), v.begin(), v.end());
      }
      auto gx = x.grad().to_vector<double>();
      all.insert(all.end(), gx.begin(), gx.end());
      set_num_threads(before);
      return all;
    };
    auto one = run(1), two = run(2);
    REQUIRE(one.size() == two.size());
    for (size_t i = 0; i < one.size(); ++i) REQUIRE(two[i] == Approx(one[i]).epsilon(1e-12).margin(1e-14));
  }
}

TEST_CASE("rnn: the f32 recurrences (panel kernels) agree with f64 on odd sizes", "[rnn][threads]") {
  // H = 37 leaves partial panels; B = 19 takes the row remainder of the
  // micro-tile; the f64 run uses Eigen, so this checks one against the other.
  for (std::string mode : {"lstm", "gru"})
    for (int threads : {1, 2}) {
      INFO(mode << " threads=" << threads);
      int before = get_num_threads();
      set_num_threads(threads);
      auto run = [&](DType dt) {
        manual_seed(5);
        nn::RNNBase rnn(mode, 23, 37, 2, false, 0.0, true, DType::f64);
        if (dt == DType::f32) rnn.to(DType::f32);
        Generator g(6);
        Tensor x = randn({7, 19, 23}, DType::f64, &g).to(dt);
        x.requires_grad_(true);
        auto out = rnn.forward_rnn(x);
        Tensor w = randn(out.output.shape(), DType::f64, &g).to(dt);
        sum(out.output * w).backward();
        std::vector<double> all;
        auto add = [&](const Tensor& t) {
          auto v = t.to(DType::f64).to_vector<double>();
          all.insert(all.end(), v.begin(), v.end());
        };
        add(out.output);
        add(out.h_n);
        for (auto& p : rnn.parameters()) add(p.grad());
        add(x.grad());
        return all;
      };
      auto lo = run(DType::f32), hi = run(DType::f64);
      set_num_threads(before);
      REQUIRE(lo.size() == hi.size());
      for (size_t i = 0; i < lo.size(); ++i) REQUIRE(lo[i] == Approx(hi[i]).epsilon(1e-4).margin(1e-5));
    }
}
