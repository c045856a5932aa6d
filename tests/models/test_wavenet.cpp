// WaveNet: the whole model against its PyTorch twin (tests/reference/
// wavenet.py, goldens by make_wavenet_golden.py) with and without both
// kinds of conditioning, in f64: logits, loss and every parameter gradient.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "models/wavenet.h"
#include "models/wavenet_data.h"
#include "models/wavenet_generate.h"
#include "require_close.h"

using namespace cadenza;
using namespace cadenza::models;

using cadenza::test::require_close;

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

TEST_CASE("wavenet: the log-mel distance of a resynthesis", "[models][wavenet]") {
  WaveNetConfig cfg;
  cfg.sample_rate = 8000;
  cfg.cin_channels = cfg.n_mels = 20;
  cfg.n_fft = 256;
  cfg.hop_length = 64;
  cfg.upsample_scales = {4, 16};
  std::vector<float> a(4000), b(4000);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = 0.5f * static_cast<float>(std::sin(2 * M_PI * 440.0 * i / 8000));
    b[i] = 0.5f * static_cast<float>(std::sin(2 * M_PI * 1500.0 * i / 8000));
  }
  REQUIRE(log_mel_distance(a, a, cfg) == 0);
  // Half the amplitude is a quarter of the power: log(4) in every frame
  // where the tone stands above the floor.
  std::vector<float> quiet(a);
  for (float& v : quiet) v *= 0.5f;
  const double d = log_mel_distance(a, quiet, cfg);
  INFO("half amplitude: " << d);
  REQUIRE(d > 0.1);
  REQUIRE(d <= std::log(4.0) + 1e-6);
  // Another pitch is further still; only the common length counts.
  REQUIRE(log_mel_distance(a, b, cfg) > d);
  b.resize(3000);
  REQUIRE(log_mel_distance(a, b, cfg) == log_mel_distance(std::vector<float>(a.begin(), a.begin() + 3000), b, cfg));
  REQUIRE_THROWS_WITH(log_mel_distance(a, std::vector<float>(100), cfg), Catch::Contains("fewer than n_fft 256"));
}

TEST_CASE("wavenet: fast generation gives the full forward pass's logits and picks the same samples",
          "[models][wavenet][generate]") {
  for (const char* mode : {"plain", "class", "mel"}) {
    DYNAMIC_SECTION(mode) {
      WaveNetConfig cfg;
      cfg.layers = 8;
      cfg.stacks = 2;
      cfg.kernel_size = std::string(mode) == "class" ? 3 : 2;
      cfg.residual_channels = 8;
      cfg.gate_channels = 12;
      cfg.skip_channels = 10;
      cfg.quantize = 32;
      cfg.dropout = 0;
      if (std::string(mode) == "class") {
        cfg.n_classes = 3;
        cfg.gin_channels = 4;
      }
      if (std::string(mode) == "mel") {
        cfg.cin_channels = cfg.n_mels = 5;
        cfg.upsample_scales = {2, 3};
        cfg.hop_length = 6;
      }
      manual_seed(3);
      WaveNet model(cfg);
      model.eval();
      const int64_t N = 2, T = 120;  // several receptive fields (kernel 3: 31 samples)
      Generator g(5);
      std::vector<double> u(N * T);
      for (double& v : u) v = uniform_double(&g);
      Tensor mel = cfg.cin_channels ? randn({N, 5, T / 6 + 1}, DType::f32, &g) : Tensor();
      std::vector<int64_t> classes = cfg.n_classes ? std::vector<int64_t>{2, 0} : std::vector<int64_t>{};
      std::vector<float> fast_logits;
      auto out = generate_wavenet(model, N, T, u, 1.0, mel, classes, &fast_logits);
      REQUIRE(out.size() == 2);
      REQUIRE(out[0] != out[1]);
      NoGradGuard ng;
      for (int64_t n = 0; n < N; ++n) {
        Tensor x = Tensor::empty({1, T}, DType::i64);
        x.data<int64_t>()[0] = wavenet_silence_id(cfg);
        for (int64_t t = 1; t < T; ++t) x.data<int64_t>()[t] = out[n][t - 1];
        Tensor m = mel.defined() ? contiguous(narrow(mel, 0, n, 1)) : Tensor();
        Tensor c = cfg.n_classes ? Tensor::full({1}, static_cast<double>(classes[n]), DType::i64) : Tensor();
        Tensor full = contiguous(model.forward_audio(x, m, c));  // [1, Q, T]
        const float* pf = full.data<float>();
        double worst = 0;
        std::vector<float> col(cfg.quantize);
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t q = 0; q < cfg.quantize; ++q) {
            col[q] = pf[q * T + t];
            worst = std::max(worst, std::fabs(static_cast<double>(col[q]) -
                                              fast_logits[(n * T + t) * cfg.quantize + q]));
          }
          REQUIRE(sample_from_logits(col.data(), cfg.quantize, 1.0, u[n * T + t]) == out[n][t]);
        }
        INFO("stream " << n << ": worst logit difference " << worst);
        REQUIRE(worst < 1e-4);
      }
      // Every way of sharing a step between threads gives the same logits:
      // gate units split over 2 and 3 threads, whole streams over 1, 2 and 3
      // (5 streams: shares of 5, 3 + 2 and 2 + 1 + 2 rows).
      const int64_t N5 = 5, T5 = 40;
      std::vector<double> u5(N5 * T5);
      for (double& v : u5) v = uniform_double(&g);
      Tensor mel5 = cfg.cin_channels ? randn({N5, 5, T5 / 6 + 1}, DType::f32, &g) : Tensor();
      std::vector<int64_t> classes5 = cfg.n_classes ? std::vector<int64_t>{2, 0, 1, 1, 2} : std::vector<int64_t>{};
      std::vector<float> ref5;
      WaveNetGenOptions one;
      one.threads = 1;
      one.split = WaveNetSplit::streams;
      auto want = generate_wavenet(model, N5, T5, u5, 1.0, mel5, classes5, &ref5, one);
      for (auto [split, threads] : {std::pair{WaveNetSplit::units, 2}, std::pair{WaveNetSplit::units, 3},
                                    std::pair{WaveNetSplit::streams, 2}, std::pair{WaveNetSplit::streams, 3}}) {
        WaveNetGenOptions o;
        o.threads = threads;
        o.split = split;
        std::vector<float> got5;
        auto got = generate_wavenet(model, N5, T5, u5, 1.0, mel5, classes5, &got5, o);
        double worst = 0;
        for (size_t i = 0; i < ref5.size(); ++i)
          worst = std::max(worst, std::fabs(static_cast<double>(ref5[i]) - got5[i]));
        INFO((split == WaveNetSplit::units ? "units" : "streams") << " over " << threads
                                                                  << " threads: worst logit difference " << worst);
        REQUIRE(worst < 1e-5);
        REQUIRE(got == want);
      }
    }
  }
  SECTION("bf16 weights: the f32 logits to bf16 rounding, the same on every split and thread count") {
    // Odd channel counts everywhere: pairs of input rows end in a lone row,
    // and the columns end past the last whole vector.
    WaveNetConfig cfg;
    cfg.layers = 6;
    cfg.stacks = 2;
    cfg.kernel_size = 3;
    cfg.residual_channels = 7;
    cfg.gate_channels = 18;
    cfg.skip_channels = 37;
    cfg.quantize = 33;
    cfg.dropout = 0;
    cfg.cin_channels = cfg.n_mels = 5;
    cfg.upsample_scales = {2, 3};
    cfg.hop_length = 6;
    manual_seed(4);
    WaveNet model(cfg);
    model.eval();
    const int64_t N = 5, T = 60;
    Generator g(6);
    std::vector<double> u(N * T);
    for (double& v : u) v = uniform_double(&g);
    Tensor mel = randn({N, 5, T / 6 + 1}, DType::f32, &g);
    WaveNetGenOptions f32;
    f32.threads = 1;
    std::vector<float> want;
    generate_wavenet(model, N, T, u, 1.0, mel, {}, &want, f32);
    std::vector<float> ref;
    for (auto [split, threads] : {std::pair{WaveNetSplit::streams, 1}, std::pair{WaveNetSplit::streams, 2},
                                  std::pair{WaveNetSplit::streams, 3}, std::pair{WaveNetSplit::units, 2},
                                  std::pair{WaveNetSplit::units, 3}}) {
      WaveNetGenOptions o;
      o.threads = threads;
      o.split = split;
      o.precision = WaveNetPrecision::bf16;
      std::vector<float> got;
      // Against f32: the same uniforms draw the same samples while the
      // logits stay close, so each stream is compared up to the first step
      // where its samples part (after which the histories differ).
      auto ids = generate_wavenet(model, N, T, u, 1.0, mel, {}, &got, o);
      if (ref.empty()) {
        ref = got;
        double worst = 0, scale = 0;
        int64_t compared = 0;
        std::vector<std::vector<int32_t>> f32_ids = generate_wavenet(model, N, T, u, 1.0, mel, {}, nullptr, f32);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t t = 0; t < T; ++t) {
            for (int64_t q = 0; q < cfg.quantize; ++q) {
              const size_t i = static_cast<size_t>((n * T + t) * cfg.quantize + q);
              worst = std::max(worst, std::fabs(static_cast<double>(want[i]) - got[i]));
              scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
            }
            ++compared;
            if (ids[n][t] != f32_ids[n][t]) break;  // the histories part from here on
          }
        INFO("bf16 against f32 over " << compared << " steps: worst logit difference " << worst << ", largest logit "
                                      << scale);
        REQUIRE(compared >= N * 10);
        REQUIRE(worst > 1e-6);          // rounded, so not the f32 path
        REQUIRE(worst < 0.02 * scale);  // and no further than rounding takes it
        continue;
      }
      double worst = 0;
      for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(ref[i]) - got[i]));
      INFO((split == WaveNetSplit::units ? "units" : "streams") << " over " << threads
                                                                << " threads: worst logit difference " << worst);
      // Whole streams on any thread do the same arithmetic; shared gate units
      // sum the threads' parts in another order.
      if (split == WaveNetSplit::streams)
        REQUIRE(worst == 0);
      else
        REQUIRE(worst < 1e-4);
    }
  }
  SECTION("the sampler: temperature 0 is the argmax, and u walks the CDF") {
    std::vector<float> l = {0.f, std::log(3.f), 0.f};  // p = 0.2, 0.6, 0.2
    REQUIRE(sample_from_logits(l.data(), 3, 0.0, 0.99) == 1);
    REQUIRE(sample_from_logits(l.data(), 3, 1.0, 0.19) == 0);
    REQUIRE(sample_from_logits(l.data(), 3, 1.0, 0.21) == 1);
    REQUIRE(sample_from_logits(l.data(), 3, 1.0, 0.81) == 2);
  }
}
