// Resampling round trips, mu-law against torchaudio's formulas, and the
// spectral front end against librosa 0.11 goldens (tests/golden/audio, made
// by tests/reference/make_audio_librosa_goldens.py).
//
// Tolerance against librosa (see compare() in audio_test_util.h):
//   |got - want| <= 1e-4 * |want| + 1e-7 * max|want|
// i.e. 1e-4 relative, with an absolute floor 140 dB under the peak.
#include <catch2/catch.hpp>

#include "audio/audio.h"
#include "audio_test_util.h"

using namespace cadenza::audio;
using namespace cadenza::audio::testing;

namespace {

constexpr double kRtol = 1e-4;

std::vector<float> plane(const Golden& g, int k) {
  const size_t n = g.f.size() / 2;
  return std::vector<float>(g.f.begin() + k * n, g.f.begin() + (k + 1) * n);
}

void check_shape(const Matrix& m, const Golden& g) {
  REQUIRE(g.shape.size() == 2);
  REQUIRE(m.rows == g.shape[0]);
  REQUIRE(m.cols == g.shape[1]);
}

}  // namespace

// ---------------------------------------------------------------- resample ----

TEST_CASE("resample gives round(n * ratio) frames and preserves a tone", "[audio][resample]") {
  // A 1 kHz tone at 48 kHz resampled to 16 kHz must equal the same tone
  // synthesised at 16 kHz (away from the edges, where the filter sees zeros).
  const std::vector<float> x = sine(48000, 1000.0, 48000);
  const std::vector<float> want = sine(16000, 1000.0, 16000);
  struct Case {
    Quality q;
    double tol;
  };
  for (Case c : {Case{Quality::kSincBest, 2e-4}, Case{Quality::kSincMedium, 5e-4},
                 Case{Quality::kSincFastest, 2e-3}}) {
    INFO("quality " << static_cast<int>(c.q));
    const std::vector<float> y = resample(x, 48000, 16000, c.q);
    REQUIRE(y.size() == 16000);
    CHECK(max_abs_diff(y.data() + 500, want.data() + 500, 15000) < c.tol);
  }
  CHECK(resample(std::vector<float>(1001, 0.1f), 44100, 22050).size() == 501);  // round(500.5)
  CHECK(resample(std::vector<float>(1000, 0.1f), 8000, 8000).size() == 1000);
}

TEST_CASE("resample there and back reproduces a band-limited signal", "[audio][resample]") {
  // 44.1 kHz -> 16 kHz -> 44.1 kHz keeps everything under 8 kHz; interior error
  // bounds per converter (the sinc filters are near-transparent).
  std::vector<float> x = sine(44100, 440.0, 44100, 0.4);
  const std::vector<float> x2 = sine(44100, 3100.0, 44100, 0.3, 1.0);
  for (size_t i = 0; i < x.size(); ++i) x[i] += x2[i];
  auto round_trip_error = [](const std::vector<float>& v, Quality q) {
    const std::vector<float> back = resample(resample(v, 44100, 16000, q), 16000, 44100, q);
    REQUIRE(back.size() == v.size());
    return max_abs_diff(back.data() + 1000, v.data() + 1000, 42100);
  };
  CHECK(round_trip_error(x, Quality::kSincBest) < 1e-3);
  CHECK(round_trip_error(x, Quality::kSincMedium) < 2e-3);
  CHECK(round_trip_error(x, Quality::kSincFastest) < 1e-2);
  // Linear and zero-order hold interpolate without a filter (and shift by a
  // fraction of a sample): only a slow 200 Hz tone survives, roughly.
  const std::vector<float> slow = sine(44100, 200.0, 44100, 0.5);
  const double best = round_trip_error(slow, Quality::kSincBest);
  const double linear = round_trip_error(slow, Quality::kLinear);
  const double zoh = round_trip_error(slow, Quality::kZeroOrderHold);
  CHECK(best < 1e-4);
  CHECK(linear < 0.08);
  CHECK(zoh < 0.15);
  CHECK(linear > 10 * best);  // the quality setting reaches libsamplerate
  CHECK(zoh > linear);
}

TEST_CASE("resample of a Buffer converts every channel and rejects bad rates",
          "[audio][resample]") {
  const Buffer b = stereo_sines(22050, 22050);
  const Buffer r = resample(b, 16000);
  REQUIRE(r.channels == 2);
  REQUIRE(r.sample_rate == 16000);
  REQUIRE(r.frames() == 16000);
  const std::vector<float> left =
      resample(std::vector<float>(b.channel(0), b.channel(0) + 22050), 22050, 16000);
  CHECK(max_abs_diff(r.channel(0), left.data(), 16000) == 0.0);
  CHECK_THROWS_AS(resample(b, 0), Error);
  CHECK_THROWS_AS(resample(std::vector<float>(10), 1, 1000), Error);  // > 256x
  CHECK(parse_quality("medium") == Quality::kSincMedium);
  CHECK(parse_quality("linear") == Quality::kLinear);
  CHECK_THROWS_WITH(parse_quality("great"), Catch::Contains("best, medium, fastest"));
}

// ------------------------------------------------------------------ mu-law ----

TEST_CASE("mu-law encoding equals torchaudio's on the test vector", "[audio][mulaw]") {
  const Golden x = golden("mulaw_x");
  const Golden want = golden("mulaw_enc");
  const std::vector<int32_t> got = mu_law_encode(x.f, 256);
  REQUIRE(got.size() == want.i.size());
  int64_t mismatches = 0;
  for (size_t k = 0; k < got.size(); ++k) mismatches += got[k] != want.i[k];
  CHECK(mismatches == 0);
  CHECK(*std::min_element(got.begin(), got.end()) == 0);
  CHECK(*std::max_element(got.begin(), got.end()) == 255);
}

TEST_CASE("mu-law decoding equals torchaudio's for every class", "[audio][mulaw]") {
  std::vector<int32_t> q(256);
  for (int k = 0; k < 256; ++k) q[k] = k;
  const std::vector<float> got = mu_law_decode(q, 256);
  // float32 exp/log1p of glibc and of numpy may differ in the last bit.
  CHECK(compare(got, golden("mulaw_dec").f, 1e-6, 1e-7) == "");
  CHECK(got[0] == -1.0f);
  CHECK(got[255] == Approx(1.0f).epsilon(1e-6));
}

TEST_CASE("mu-law round trips", "[audio][mulaw]") {
  std::vector<int32_t> q(256);
  for (int k = 0; k < 256; ++k) q[k] = k;
  CHECK(mu_law_encode(mu_law_decode(q)) == q);  // classes survive exactly
  // Samples come back within half a quantisation step of the mu-law grid,
  // whose width at x is (1 + mu|x|) * log1p(mu) / mu * 2 / mu.
  const Golden x = golden("mulaw_x");
  const std::vector<float> back = mu_law_decode(mu_law_encode(x.f));
  const double mu = 255.0;
  for (size_t k = 0; k < x.f.size(); ++k) {
    const double step = (1.0 + mu * std::fabs(x.f[k])) * std::log1p(mu) / mu * 2.0 / mu;
    INFO("x = " << x.f[k]);
    CHECK(std::fabs(back[k] - x.f[k]) <= 0.5 * step * 1.02 + 1e-6);
  }
  // Out of range and NaN inputs stay inside the classes.
  const std::vector<int32_t> e = mu_law_encode({2.0f, -3.0f, std::nanf("")});
  CHECK(e == std::vector<int32_t>{255, 0, 128});
  CHECK(mu_law_encode({0.0f}, 256)[0] == 128);
  CHECK_THROWS_AS(mu_law_encode({0.0f}, 1), Error);
}

// ------------------------------------------------------------ STFT / ISTFT ----

TEST_CASE("stft matches librosa's defaults (constant centre padding)", "[audio][stft]") {
  const Golden y = golden("sig22k");
  const Golden want = golden("a_stft");  // [2 (re, im), 1025, frames]
  const Spectrum s = stft(y.f);
  REQUIRE(s.bins == want.shape[1]);
  REQUIRE(s.frames == want.shape[2]);
  CHECK(s.frames == stft_frames(static_cast<int64_t>(y.f.size()), StftOptions{}));
  // Compared as one vector (re then im) so the floor is the complex peak.
  std::vector<float> got = s.re;
  got.insert(got.end(), s.im.begin(), s.im.end());
  CHECK(compare(got, want.f, kRtol) == "");
}

TEST_CASE("stft with hop and a short window matches librosa", "[audio][stft]") {
  StftOptions o;
  o.n_fft = 512;
  o.hop_length = 160;
  o.win_length = 400;
  const Golden want = golden("b_mag");
  const Matrix m = magnitude(stft(golden("sig16k").f, o));
  check_shape(m, want);
  CHECK(compare(m.data, want.f, kRtol) == "");
}

TEST_CASE("stft with reflect padding matches librosa's pad_mode='reflect'", "[audio][stft]") {
  StftOptions o;
  o.n_fft = 256;
  o.hop_length = 64;
  o.pad_mode = PadMode::kReflect;
  const Golden want = golden("c_mag_reflect");
  const Matrix m = magnitude(stft(golden("sig16k").f, o));
  check_shape(m, want);
  CHECK(compare(m.data, want.f, kRtol) == "");
  // The default (constant) padding gives different edge frames.
  o.pad_mode = PadMode::kConstant;
  CHECK(compare(magnitude(stft(golden("sig16k").f, o)).data, want.f, kRtol) != "");
}

TEST_CASE("istft matches librosa on an arbitrary spectrum", "[audio][stft]") {
  const Golden d = golden("d_spec");  // [2, 129, 20]
  Spectrum s;
  s.bins = d.shape[1];
  s.frames = d.shape[2];
  s.re = plane(d, 0);
  s.im = plane(d, 1);
  StftOptions o;
  o.n_fft = 256;
  o.hop_length = 64;
  CHECK(compare(istft(s, o), golden("d_istft").f, kRtol, 1e-6) == "");
  CHECK(compare(istft(s, o, 1000), golden("d_istft_len1000").f, kRtol, 1e-6) == "");
}

TEST_CASE("istft inverts stft", "[audio][stft]") {
  const std::vector<float> x = golden("sig16k").f;
  for (int n_fft : {256, 512, 1024}) {
    for (PadMode pad : {PadMode::kConstant, PadMode::kReflect}) {
      StftOptions o;
      o.n_fft = n_fft;
      o.pad_mode = pad;
      const std::vector<float> y = istft(stft(x, o), o, static_cast<int64_t>(x.size()));
      INFO("n_fft " << n_fft);
      REQUIRE(y.size() == x.size());
      CHECK(max_abs_diff(y.data(), x.data(), static_cast<int64_t>(x.size())) < 1e-5);
    }
  }
  StftOptions bad;
  bad.n_fft = 256;
  bad.win_length = 300;
  CHECK_THROWS_WITH(stft(x, bad), Catch::Contains("win_length 300"));
  StftOptions big;
  big.n_fft = 4096;
  big.center = false;
  CHECK_THROWS_AS(stft(std::vector<float>(100), big), Error);
}

// ----------------------------------------------------------- mel and MFCC ----

TEST_CASE("mel filterbanks match librosa (Slaney default, HTK option)", "[audio][mel]") {
  const Golden slaney = golden("b_filters_slaney");
  MelOptions o;
  o.n_mels = 40;
  const Matrix s = mel_filterbank(16000, 512, o);
  check_shape(s, slaney);
  CHECK(compare(s.data, slaney.f, kRtol) == "");

  const Golden htk = golden("b_filters_htk");
  o.htk = true;
  o.slaney_norm = false;
  o.fmin = 20.0;
  o.fmax = 7600.0;
  const Matrix h = mel_filterbank(16000, 512, o);
  check_shape(h, htk);
  CHECK(compare(h.data, htk.f, kRtol) == "");
  CHECK(compare(h.data, slaney.f, kRtol) != "");  // the options matter
  o.fmax = 10.0;
  CHECK_THROWS_WITH(mel_filterbank(16000, 512, o), Catch::Contains("fmin < fmax"));
}

TEST_CASE("melspectrogram, log-mel and MFCC match librosa's defaults", "[audio][mel]") {
  const std::vector<float> y = golden("sig22k").f;
  const Matrix mel = melspectrogram(y, 22050);
  const Golden want_mel = golden("a_mel");
  check_shape(mel, want_mel);
  CHECK(compare(mel.data, want_mel.f, kRtol) == "");

  CHECK(compare(power_to_db(mel).data, golden("a_logmel").f, kRtol) == "");
  DbOptions refmax;
  refmax.ref = 0.0;  // np.max
  CHECK(compare(power_to_db(mel, refmax).data, golden("a_logmel_refmax").f, kRtol) == "");

  const Matrix m = mfcc(y, 22050);
  const Golden want = golden("a_mfcc");
  check_shape(m, want);
  CHECK(compare(m.data, want.f, kRtol) == "");
}

TEST_CASE("HTK mel and MFCC with a speech front end match librosa", "[audio][mel]") {
  StftOptions so;
  so.n_fft = 512;
  so.hop_length = 160;
  so.win_length = 400;
  MfccOptions mo;
  mo.n_mfcc = 13;
  mo.mel.n_mels = 40;
  mo.mel.fmin = 20.0;
  mo.mel.fmax = 7600.0;
  mo.mel.htk = true;
  mo.mel.slaney_norm = false;
  const std::vector<float> y = golden("sig16k").f;
  CHECK(compare(melspectrogram(y, 16000, so, mo.mel).data, golden("b_mel").f, kRtol) == "");
  const Matrix m = mfcc(y, 16000, so, mo);
  check_shape(m, golden("b_mfcc"));
  CHECK(compare(m.data, golden("b_mfcc").f, kRtol) == "");
}

TEST_CASE("power_to_db floors at top_db under the peak", "[audio][mel]") {
  Matrix s;
  s.rows = 1;
  s.cols = 4;
  s.data = {1.0f, 1e-3f, 1e-12f, 0.0f};
  const Matrix d = power_to_db(s);
  CHECK(d.data[0] == Approx(0.0));
  CHECK(d.data[1] == Approx(-30.0));
  CHECK(d.data[2] == Approx(-80.0));  // floored
  CHECK(d.data[3] == Approx(-80.0));
  DbOptions none;
  none.top_db = -1;
  CHECK(power_to_db(s, none).data[3] == Approx(-100.0));  // amin 1e-10
}
