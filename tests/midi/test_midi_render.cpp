// FluidSynth rendering: a single A4 comes out at the right time, pitch and
// sample rate; missing sound fonts and builds without FluidSynth say so.
#include <cadenza/config.h>

#include <cmath>
#include <fstream>

#include "midi/render.h"
#include "midi_test_util.h"

using namespace cadenza::midi;

namespace {

constexpr double kPi = 3.14159265358979323846;

// An A4 (440 Hz) on a flute from 0.5 s to 1.0 s at 120 bpm.
Score a4() {
  Score s;
  s.ticks_per_quarter = 480;
  Track t = make_track("flute", 73, 0);
  Note n;
  n.pitch = 69;
  n.velocity = 110;
  n.start_tick = 480;
  n.end_tick = 960;
  t.notes.push_back(n);
  t.end_tick = 960;
  s.tracks.push_back(t);
  s.update_times();
  return s;
}

double rms(const std::vector<float>& x, int64_t from, int64_t to) {
  double sum = 0;
  for (int64_t i = from; i < to; ++i) sum += double(x[i]) * x[i];
  return std::sqrt(sum / double(to - from));
}

// Magnitude of the DFT of x[from, to) at `hz` (Goertzel's single bin).
double tone(const std::vector<float>& x, int64_t from, int64_t to, double hz, int rate) {
  double re = 0, im = 0;
  for (int64_t i = from; i < to; ++i) {
    double ph = 2 * kPi * hz * double(i - from) / rate;
    re += x[i] * std::cos(ph);
    im += x[i] * std::sin(ph);
  }
  return std::hypot(re, im) / double(to - from);
}

}  // namespace

#if CADENZA_HAVE_FLUIDSYNTH

TEST_CASE("render: an A4 sounds at 440 Hz from 0.5 s", "[midi][render]") {
  INFO("needs Debian's timgm6mb-soundfont");
  REQUIRE(std::ifstream(kDefaultSoundFont).good());
  for (int rate :
       {16000, 22050, 4000}) {  // 4 kHz is below FluidSynth's range: rendered, then resampled
    INFO("rate " << rate);
    RenderOptions o;
    o.sample_rate = rate;
    o.reverb = false;
    o.chorus = false;
    cadenza::audio::Buffer b = render(a4(), o);
    CHECK(b.sample_rate == rate);
    REQUIRE(b.channels == 2);
    CHECK(b.frames() == Approx(2.0 * rate).margin(rate * 0.01));  // 1 s of score + 1 s tail
    std::vector<float> left(b.data.begin(), b.data.begin() + b.frames());
    double before = rms(left, 0, rate * 45 / 100);
    double during = rms(left, rate * 60 / 100, rate * 95 / 100);
    CHECK(before < 1e-4);
    CHECK(during > 0.01);
    if (rate >= 16000) {
      int64_t a = rate * 60 / 100, z = rate * 95 / 100;
      double at440 = tone(left, a, z, 440, rate);
      CHECK(at440 > 5 * tone(left, a, z, 415.3, rate));  // a semitone below
      CHECK(at440 > 5 * tone(left, a, z, 466.2, rate));  // a semitone above
    }
  }
}

TEST_CASE("render: a missing sound font is named", "[midi][render]") {
  RenderOptions o;
  o.soundfont = "/nonexistent/font.sf2";
  CHECK_THROWS_WITH(render(a4(), o), Catch::Contains("/nonexistent/font.sf2"));
  o = RenderOptions{};
  o.max_seconds = 1;
  CHECK_THROWS_WITH(render(a4(), o), Catch::Contains("max_seconds"));
}

#else

TEST_CASE("render: a build without FluidSynth says how to get it", "[midi][render]") {
  CHECK_FALSE(can_render());
  CHECK_THROWS_WITH(render(a4()), Catch::Contains("libfluidsynth-dev"));
}

#endif
