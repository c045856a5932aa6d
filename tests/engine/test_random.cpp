// Philox RNG: reproducibility, state save/restore, thread independence,
// distribution moments, and the reference Philox 4x32-10 test vector.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/ops.h"
#include "engine/random.h"
#include "engine/threading.h"
#include "kernels/math.h"

using namespace cadenza;

TEST_CASE("random: Philox 4x32-10 matches the Random123 known-answer vector", "[random]") {
  // Random123's kat_vectors: philox4x32 10 rounds, ctr=0, key=0.
  uint32_t key[2] = {0, 0}, ctr[4] = {0, 0, 0, 0}, out[4];
  kmath::philox4x32_10(key, ctr, out);
  REQUIRE(out[0] == 0x6627e8d5u);
  REQUIRE(out[1] == 0xe169c58du);
  REQUIRE(out[2] == 0xbc57ac4cu);
  REQUIRE(out[3] == 0x9b00dbd8u);
  // ctr = all ones, key = all ones.
  uint32_t key2[2] = {0xffffffffu, 0xffffffffu}, ctr2[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
  kmath::philox4x32_10(key2, ctr2, out);
  REQUIRE(out[0] == 0x408f276du);
  REQUIRE(out[1] == 0x41c83b0eu);
  REQUIRE(out[2] == 0xa20bc7c6u);
  REQUIRE(out[3] == 0x6d5451fdu);
}

TEST_CASE("random: the same seed gives the same stream; state restores", "[random]") {
  Generator a(42), b(42), c(43);
  auto x = rand({1000}, DType::f32, &a).to_vector<float>();
  REQUIRE(x == rand({1000}, DType::f32, &b).to_vector<float>());
  REQUIRE(x != rand({1000}, DType::f32, &c).to_vector<float>());
  Tensor st = a.state();
  auto next = randn({33}, DType::f64, &a).to_vector<double>();
  Generator d(0);
  d.set_state(st);
  REQUIRE(next == randn({33}, DType::f64, &d).to_vector<double>());
  REQUIRE_THROWS(d.set_state(Tensor::zeros({3}, DType::i64)));
}

TEST_CASE("random: streams do not depend on the thread count", "[random][threads]") {
  int before = get_num_threads();
  set_num_threads(1);
  Generator a(7);
  auto x1 = randn({200001}, DType::f32, &a).to_vector<float>();
  set_num_threads(2);
  Generator b(7);
  auto x2 = randn({200001}, DType::f32, &b).to_vector<float>();
  set_num_threads(before);
  REQUIRE(x1 == x2);
}

TEST_CASE("random: uniform, normal and bernoulli moments", "[random]") {
  Generator g(1);
  auto u = rand({100000}, DType::f64, &g).to_vector<double>();
  double m = 0, lo = 1, hi = 0;
  for (double v : u) {
    m += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  REQUIRE(std::fabs(m / u.size() - 0.5) < 0.005);
  REQUIRE(lo >= 0);
  REQUIRE(hi < 1);
  auto n = randn({100000}, DType::f32, &g).to_vector<float>();
  double mn = 0, vn = 0;
  for (float v : n) mn += v;
  mn /= n.size();
  for (float v : n) vn += (v - mn) * (v - mn);
  vn /= n.size();
  REQUIRE(std::fabs(mn) < 0.01);
  REQUIRE(std::fabs(vn - 1) < 0.02);
  auto b = bernoulli({100000}, 0.3, DType::f32, &g).to_vector<float>();
  double mb = 0;
  for (float v : b) mb += v;
  REQUIRE(std::fabs(mb / b.size() - 0.3) < 0.005);
  auto r = randint(3, 7, {10000}, &g).to_vector<int64_t>();
  REQUIRE(*std::min_element(r.begin(), r.end()) == 3);
  REQUIRE(*std::max_element(r.begin(), r.end()) == 6);
  auto p = randperm(50, &g);
  std::sort(p.begin(), p.end());
  for (int i = 0; i < 50; ++i) REQUIRE(p[i] == i);
}

TEST_CASE("random: bernoulli is the generator's uniforms compared with p, in one draw", "[random]") {
  // The philox_bernoulli kernel against uniform_ + lt from the same state:
  // the same mask, scaled by value, and the same counter advance.
  for (DType dt : {DType::f32, DType::f64}) {
    for (double p : {0.0, 0.3, 0.95, 1.0}) {
      Generator a(21), b(21);
      Tensor u = Tensor::empty({7, 13}, dt);
      uniform_(u, 0, 1, &a);
      const std::vector<double> want = mul(to_dtype(lt(u, Tensor::scalar(p, dt)), dt), Tensor::scalar(1.25, dt))
                                           .to_vector<double>();
      REQUIRE(bernoulli({7, 13}, p, dt, &b, Device{}, 1.25).to_vector<double>() == want);
      REQUIRE(a.offset() == b.offset());
    }
  }
  // An integer dtype draws f64 uniforms, as before.
  Generator a(5), b(5);
  Tensor u = Tensor::empty({33}, DType::f64);
  uniform_(u, 0, 1, &a);
  const std::vector<int64_t> want = to_dtype(lt(u, Tensor::scalar(0.4, DType::f64)), DType::i64).to_vector<int64_t>();
  REQUIRE(bernoulli({33}, 0.4, DType::i64, &b).to_vector<int64_t>() == want);
  REQUIRE(bernoulli({0}, 0.4, DType::f32, &b).numel() == 0);
}
