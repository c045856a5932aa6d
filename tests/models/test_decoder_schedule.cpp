// The CUDA decoder's schedule (kernels/cuda/decoder.cu) run on the host:
// kernels/decoder_math.h's plan, staging, warp-order dot products, gate sums,
// cells and draw, block after block between the kernel's barriers, against
// the CPU Decoder's logits and tokens for the same uniforms.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <vector>

#include "engine/autograd.h"
#include "kernels/decoder_math.h"
#include "models/decoder.h"
#include "../engine/decoder_replay.h"

using namespace cadenza;
using namespace cadenza::models;
using cadenza::test::HostDecoder;
namespace dec = cadenza::kmath::dec;

TEST_CASE("decoder (CUDA schedule on the host): the Decoder's logits and tokens, primer and state carried",
          "[models][decoder]") {
  SequenceModelConfig c;
  c.vocab_size = 37;
  c.embed = 12;
  c.hidden = 45;
  c.layers = 3;
  c.cell = "lstm";
  manual_seed(21);
  SequenceModel m(c);
  for (int64_t sms : {int64_t{132}, int64_t{7}}) {  // a unit per block; 7 units per block, the last short
    INFO("sms " << sms);
    Decoder cpu(m);
    kmath::dec::Weights cw;
    cpu.weights(&cw);
    HostDecoder gpu(cw, sms);
    REQUIRE(gpu.p.blocks == (sms == 132 ? 45 : 7));
    const std::vector<int32_t> primer = {3, 30, 7};
    for (auto [temperature, top_k, top_p] :
         {std::tuple{1.0, int64_t{0}, 1.0}, std::tuple{0.7, int64_t{5}, 0.9}, std::tuple{0.0, int64_t{0}, 1.0}}) {
      std::vector<double> us(60);
      for (size_t i = 0; i < us.size(); ++i) us[i] = std::fmod(0.377 * (i + 1) + 0.05 * temperature, 1.0);
      auto n = std::make_shared<size_t>(0);
      auto want = cpu.generate(60, 0, [&] { return us[(*n)++]; }, temperature, top_k, top_p, primer);
      std::vector<float> lg;
      auto got = gpu.generate(60, 0, us, temperature, top_k, top_p, primer, &lg);
      REQUIRE(got == want);  // each run continues the state the last left
      int64_t changes = 0;
      for (size_t i = 1; i < got.size(); ++i) changes += got[i] != got[i - 1];
      if (temperature > 0) REQUIRE(changes > 20);
    }
    // The logits themselves, one step at a time from a fresh state.
    Decoder fresh(m);
    kmath::dec::Weights fw;
    fresh.weights(&fw);
    HostDecoder again(fw, sms);
    std::vector<float> lg;
    std::vector<double> us(8, 0.5);
    auto toks = again.generate(8, 4, us, 0.0, 0, 1.0, {}, &lg);
    int32_t tok = 4;
    double worst = 0;
    for (int i = 0; i < 8; ++i) {
      const std::vector<float>& want = fresh.step(tok);
      for (int64_t v = 0; v < c.vocab_size; ++v)
        worst = std::max(worst, std::fabs(static_cast<double>(want[v]) - lg[i * c.vocab_size + v]));
      tok = toks[i];
    }
    INFO("worst logit difference " << worst);
    REQUIRE(worst < 2e-5);
  }
}

TEST_CASE("decoder (CUDA plan): W1's LSTM on an H100/H200-sized device", "[models][decoder]") {
  const dec::Dims w1{388, 512, 2};
  dec::Plan p = dec::plan(w1, 132, 227 * 1024);
  REQUIRE(p.fits);
  REQUIRE(p.units == 4);
  REQUIRE(p.blocks == 128);
  REQUIRE(p.out_rows == 4);
  REQUIRE(p.sort_n == 512);
  // 3 x 16 gate rows and 4 output rows of 512, plus the staging: about 110 KB.
  REQUIRE(p.smem_bytes < 120 * 1024);
  REQUIRE(p.smem_bytes > (3 * 16 + 4) * 512 * 4);
  // A layer too wide for a small device is refused by name (the caller steps the modules).
  dec::Plan big = dec::plan(dec::Dims{388, 4096, 3}, 16, 227 * 1024);
  REQUIRE_FALSE(big.fits);
  REQUIRE(std::string(big.why).find("shared memory") != std::string::npos);
}
