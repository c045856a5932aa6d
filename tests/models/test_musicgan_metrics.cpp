// MuseGAN's metrics on hand-made rolls whose answers are known.
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>

#include "models/musicgan_metrics.h"

using namespace cadenza;
using namespace cadenza::models;

namespace {

constexpr int kLow = 24;  // pitch index 0 = C1
constexpr int64_t kSteps = 48, kPitches = 84;

// A roll [1, tracks, bars, 48, 84] of zeros, and a way to set notes in it.
struct Roll {
  int64_t tracks, bars;
  std::vector<float> v;
  Roll(int64_t t, int64_t b)
      : tracks(t), bars(b), v(static_cast<size_t>(t * b * kSteps * kPitches), 0.f) {}
  // pitch sounds in track t over global steps [from, to)
  void note(int64_t t, int pitch, int64_t from, int64_t to) {
    for (int64_t s = from; s < to; ++s)
      v[static_cast<size_t>((t * bars * kSteps + s) * kPitches + (pitch - kLow))] = 1;
  }
  Tensor tensor() const { return Tensor::from_vector(v, {1, tracks, bars, kSteps, kPitches}); }
};

}  // namespace

TEST_CASE("musicgan metrics: a C major triad held four bars", "[musicgan]") {
  Roll r(2, 4);
  for (int p : {60, 64, 67}) r.note(0, p, 0, 4 * kSteps);
  auto m = musegan_metrics(r.tensor(), {false, false}, kLow, kSteps);
  REQUIRE(m.eb.size() == 2);
  CHECK(m.eb[0] == 0);
  CHECK(m.eb[1] == 100);  // the second track never sounds
  CHECK(m.upc[0] == 3);
  CHECK(std::isnan(m.upc[1]));
  CHECK(m.qn[0] == 100);  // held notes count once per bar, each 48 steps long
  CHECK(m.nl[0] == 48);
  CHECK(std::isnan(m.nl[1]));
  CHECK(std::isnan(m.dp[0]));
  REQUIRE(m.td.size() == 1);
  CHECK(std::isnan(std::get<2>(m.td[0])));  // no bar where both sound
}

TEST_CASE("musicgan metrics: QN and UPC of short notes, one octave apart", "[musicgan]") {
  Roll r(1, 2);
  // Bar 0: 24 one-step notes on alternating C4 and C5 (one pitch class).
  for (int64_t s = 0; s < kSteps; s += 2) r.note(0, s % 4 == 0 ? 60 : 72, s, s + 1);
  // Bar 1: two notes of 3 steps and two of 2 steps: half qualify.
  r.note(0, 62, kSteps, kSteps + 3);
  r.note(0, 64, kSteps + 10, kSteps + 13);
  r.note(0, 65, kSteps + 20, kSteps + 22);
  r.note(0, 67, kSteps + 30, kSteps + 32);
  auto m = musegan_metrics(r.tensor(), {false}, kLow, kSteps);
  CHECK(m.eb[0] == 0);
  CHECK(m.upc[0] == Approx((1 + 4) / 2.0));
  CHECK(m.qn[0] == Approx((0 + 50) / 2.0));
  CHECK(m.nl[0] == Approx((1 + (3 + 3 + 2 + 2) / 4.0) / 2.0));  // bar means, then their mean
  // min_qn_steps = 2: every note of bar 1 qualifies.
  CHECK(musegan_metrics(r.tensor(), {false}, kLow, kSteps, 2).qn[0] == Approx(50));
}

TEST_CASE("musicgan metrics: drum pattern on and off the 16th grid", "[musicgan]") {
  Roll r(1, 3);
  // Bar 0: a hit on every 16th note (every 3 steps at 48 steps per bar).
  for (int64_t s = 0; s < kSteps; s += 3) r.note(0, 42, s, s + 1);
  // Bar 1: the same grid shifted by one step: the best phase still scores 100.
  for (int64_t s = 1; s < kSteps; s += 3) r.note(0, 36, kSteps + s, kSteps + s + 1);
  // Bar 2: two hits on the grid (steps 0 and 12) and two one step off it
  // (steps 4 and 16) in the best phase: (1 + 1 + 0.3 + 0.3) / 4 = 65%.
  for (int64_t s : {0, 12, 4, 16}) r.note(0, 38, 2 * kSteps + s, 2 * kSteps + s + 1);
  auto m = musegan_metrics(r.tensor(), {true}, kLow, kSteps);
  CHECK(m.dp[0] == Approx((100 + 100 + 65) / 3.0));
  CHECK(std::isnan(m.qn[0]));  // QN is not taken for drums
  CHECK(std::isnan(m.nl[0]));
  CHECK(m.td.empty());         // no pair of melodic tracks

  Roll one(1, 1);
  for (int64_t s = 0; s < kSteps; s += 3) one.note(0, 42, s, s + 1);
  CHECK(musegan_metrics(one.tensor(), {true}, kLow, kSteps).dp[0] == Approx(100));
  // 8th notes at 24 steps per bar would need 16 | steps_per_bar.
  Tensor odd = Tensor::zeros({1, 1, 1, 24, kPitches});
  odd.data<float>()[0] = 1;
  CHECK(std::isnan(musegan_metrics(odd, {true}, kLow, 24).dp[0]));
}

TEST_CASE("musicgan metrics: tonal distance of identical and of tritone triads", "[musicgan]") {
  Roll r(3, 2);
  for (int p : {60, 64, 67}) {  // C major in tracks 0 and 1, both bars
    r.note(0, p, 0, 2 * kSteps);
    r.note(1, p + 12, 0, 2 * kSteps);  // an octave up: same chroma
  }
  for (int p : {66, 70, 73}) r.note(2, p, 0, 2 * kSteps);  // F# major
  auto m = musegan_metrics(r.tensor(), {false, false, false}, kLow, kSteps);
  REQUIRE(m.td.size() == 3);
  CHECK(std::get<0>(m.td[0]) == 0);
  CHECK(std::get<1>(m.td[0]) == 1);
  CHECK(std::get<2>(m.td[0]) == Approx(0).margin(1e-12));
  // A tritone negates the fifths and minor-thirds circles and keeps the major
  // thirds, so TD = 2 |(fifths, minor thirds) of C major|. C = {0, 4, 7}:
  // fifths angles 0, 2pi/3, pi/6 -> mean (sin, cos) = ((1 + sqrt3)/6, (1 + sqrt3)/6);
  // minor thirds angles 0, 0, pi/2 -> (1/3, 2/3).
  // TD = 2 sqrt(2 ((1 + sqrt3)/6)^2 + 5/9) = (2/3) sqrt(7 + sqrt3) = 1.96999...
  const double expected = 2.0 / 3.0 * std::sqrt(7.0 + std::sqrt(3.0));
  CHECK(std::get<2>(m.td[1]) == Approx(expected).epsilon(1e-9));  // tracks 0, 2
  CHECK(std::get<2>(m.td[2]) == Approx(expected).epsilon(1e-9));  // tracks 1, 2

  auto c = tonal_centroid({1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0});
  CHECK(c[0] == Approx((1 + std::sqrt(3.0)) / 6));
  CHECK(c[3] == Approx(2.0 / 3.0));
}

TEST_CASE("musicgan metrics: drum tracks are left out of TD, flat rolls, bad input", "[musicgan]") {
  Roll r(3, 1);
  r.note(0, 36, 0, 1);
  r.note(1, 60, 0, 48);
  r.note(2, 64, 0, 48);
  auto m = musegan_metrics(r.tensor(), {true, false, false}, kLow, kSteps);
  REQUIRE(m.td.size() == 1);
  CHECK(std::get<0>(m.td[0]) == 1);
  CHECK(std::get<1>(m.td[0]) == 2);
  // [N, tracks, steps, pitches] with whole bars gives the same.
  auto flat = musegan_metrics(r.tensor().reshape({1, 3, kSteps, kPitches}), {true, false, false},
                              kLow, kSteps);
  CHECK(flat.upc == m.upc);
  CHECK_THROWS_WITH(musegan_metrics(r.tensor(), {true}, kLow, kSteps),
                    Catch::Contains("1 drum flags for 3 tracks"));
  CHECK_THROWS_WITH(musegan_metrics(r.tensor(), {true, false, false}, kLow, 32),
                    Catch::Contains("steps per bar"));
}

TEST_CASE("musicgan metrics: relative distance, JSON and table", "[musicgan]") {
  CHECK(relative_distance(2.0, 3.0) == Approx(0.5));
  CHECK(relative_distance(0.0, 0.0) == 0);
  CHECK(std::isinf(relative_distance(0.0, 1.0)));
  CHECK(std::isnan(relative_distance(std::nan(""), 1.0)));

  Roll a(2, 2), b(2, 2);
  for (int p : {60, 64, 67}) a.note(0, p, 0, 96), a.note(1, p - 12, 0, 96);
  b.note(0, 60, 0, 48);
  b.note(1, 55, 0, 1);
  auto ma = musegan_metrics(a.tensor(), {false, false}, kLow, kSteps);
  auto mb = musegan_metrics(b.tensor(), {false, false}, kLow, kSteps);
  auto j = nlohmann::json::parse(metrics_json(ma, mb, {"Soprano", "Bass"}));
  CHECK(j["tracks"][1] == "Bass");
  CHECK(j["metrics"]["EB"]["data"][0] == 0.0);
  CHECK(j["metrics"]["EB"]["samples"][0] == 50.0);
  CHECK(j["metrics"]["DP"]["data"][0].is_null());
  CHECK(j["metrics"]["UPC"]["relative_distance"][0] == Approx(2.0 / 3.0));
  CHECK(j["TD"][0]["a"] == "Soprano");
  CHECK(j["TD"][0]["data"] == Approx(0).margin(1e-12));
  std::string table = metrics_table(ma, mb, {"Soprano", "Bass"});
  CHECK_THAT(table,
             Catch::Contains("UPC") && Catch::Contains("Soprano-Bass") && Catch::Contains("EB %"));
  CHECK(table.find("DP") == std::string::npos);  // no drum track
}
