// Silence trimming (against librosa.effects.trim) and AudioDataset: recursive
// scan, mono resampling, the cache, seeded crops and the summary.
#include <catch2/catch.hpp>
#include <fstream>

#include "audio/dataset.h"
#include "audio_test_util.h"

using namespace cadenza::audio;
using namespace cadenza::audio::testing;

namespace {

Buffer mono(std::vector<float> x, int rate) {
  Buffer b;
  b.sample_rate = rate;
  b.channels = 1;
  b.data = std::move(x);
  return b;
}

// True when `w` occurs as a contiguous run of clip `c`.
bool is_window_of(const float* w, int64_t n, const std::vector<float>& c) {
  for (size_t off = 0; off + n <= c.size(); ++off) {
    if (std::equal(w, w + n, c.begin() + off)) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("trim_silence matches librosa.effects.trim", "[audio][dataset]") {
  const std::vector<float> x = golden("trim_sig").f;
  const std::vector<int32_t> want = golden("trim_idx").i;  // [s60, e60, s30, e30]
  const auto [s60, e60] = trim_silence(x, 60.0);
  CHECK(s60 == want[0]);
  CHECK(e60 == want[1]);
  const auto [s30, e30] = trim_silence(x, 30.0, 1024, 256);
  CHECK(s30 == want[2]);
  CHECK(e30 == want[3]);
  CHECK(trim_silence(std::vector<float>(1000, 0.0f)) == std::pair<int64_t, int64_t>(0, 1000));
  CHECK(trim_silence({}) == std::pair<int64_t, int64_t>(0, 0));
}

TEST_CASE("AudioDataset scans recursively, resamples to mono and reports drops",
          "[audio][dataset]") {
  ScratchDir dir("dataset");
  std::filesystem::create_directories(dir / "sub/deeper");
  save(dir / "a.wav", stereo_sines(22050, 22050));                         // 1 s stereo
  save(dir / "sub/b.flac", mono(sine(32000, 300.0, 16000), 16000));        // 2 s
  save(dir / "sub/deeper/c.ogg", mono(sine(44100, 500.0, 44100), 44100));  // 1 s
  save(dir / "short.wav", mono(sine(100, 300.0, 16000), 16000));           // too short
  // Silence except a short burst: trimmed to 3200 samples, kept.
  std::vector<float> quiet(48000, 0.0f);
  const std::vector<float> burst = sine(3200, 700.0, 16000);
  std::copy(burst.begin(), burst.end(), quiet.begin() + 20000);
  save(dir / "sub/quiet.wav", mono(quiet, 16000));
  save(dir / "sub/silent.wav", mono(std::vector<float>(16000, 0.0f), 16000));
  {
    std::ofstream(dir / "sub/broken.wav") << "not audio";
    std::ofstream(dir / "readme.txt") << "ignored: not an audio extension";
  }

  DatasetOptions o;
  o.sample_rate = 16000;
  o.min_frames = 1000;
  o.trim_db = 60.0;
  o.cache_dir = dir / "cache";
  const AudioDataset ds(dir.path, o);
  const DatasetSummary& s = ds.summary();
  CHECK(s.found == 7);
  CHECK(s.kept == 4);
  CHECK(s.dropped.at("unreadable") == 1);
  CHECK(s.dropped.at("too_short") == 1);
  CHECK(s.dropped.at("silent") == 1);
  CHECK(s.cache_hits == 0);
  CHECK_THAT(s.to_string(), Catch::Contains("dropped 1 unreadable"));
  bool named = false;
  for (const auto& [path, why] : s.dropped_files) {
    named |= path.find("broken.wav") != std::string::npos &&
             why.find("Format not recognised") != std::string::npos;
  }
  CHECK(named);

  // Sorted paths: a.wav, sub/b.flac, sub/deeper/c.ogg, sub/quiet.wav ... .
  REQUIRE(ds.size() == 4);
  CHECK(ds.path(0).find("a.wav") != std::string::npos);
  CHECK(ds.sample_rate() == 16000);
  CHECK(std::abs(static_cast<int64_t>(ds.clip(1).size()) - 32000) <= 512);  // trimmed edges
  bool found_quiet = false;
  for (size_t i = 0; i < ds.size(); ++i) {
    if (ds.path(i).find("quiet.wav") == std::string::npos) continue;
    found_quiet = true;
    // The burst (3200 samples) plus at most a frame of context each side.
    CHECK(ds.clip(i).size() >= 3200);
    CHECK(ds.clip(i).size() <= 3200 + 2 * 2048);
  }
  CHECK(found_quiet);

  SECTION("a second scan reads every kept clip from the cache") {
    const AudioDataset again(dir.path, o);
    CHECK(again.summary().cache_hits == 4);
    for (size_t i = 0; i < ds.size(); ++i) CHECK(again.clip(i) == ds.clip(i));
    DatasetOptions other = o;
    other.sample_rate = 8000;  // another rate: another cache entry
    CHECK(AudioDataset(dir.path, other).summary().cache_hits == 0);
  }
  SECTION("crops are seeded windows of the clips") {
    const std::vector<float> a = ds.random_crops(6, 1000, 255, 42);
    const std::vector<float> b = ds.random_crops(6, 1000, 255, 42);
    const std::vector<float> c = ds.random_crops(6, 1000, 255, 43);
    REQUIRE(a.size() == 6 * 1255);
    CHECK(a == b);
    CHECK(a != c);
    for (int k = 0; k < 6; ++k) {
      bool inside = false;
      for (size_t i = 0; i < ds.size() && !inside; ++i) {
        inside = is_window_of(a.data() + k * 1255, 1255, ds.clip(i));
      }
      CHECK(inside);
    }
    CHECK_THROWS_WITH(ds.random_crops(1, 100000, 0, 1), Catch::Contains("receptive field"));
  }
}

TEST_CASE("AudioDataset drops silent files and fails when nothing is usable", "[audio][dataset]") {
  ScratchDir dir("dataset_bad");
  std::vector<float> silent(16000, 0.0f);
  silent[8000] = 1e-9f;  // a peak, so the rest is 100+ dB under it
  save(dir / "s.wav", mono(silent, 16000), SaveOptions{Subtype::kFloat});
  save(dir / "short.wav", mono(sine(500, 300.0, 16000), 16000));
  { std::ofstream(dir / "x.flac") << "garbage"; }
  DatasetOptions o;
  o.trim_db = 60.0;
  o.min_frames = 2000;
  try {
    AudioDataset ds(dir.path, o);
    FAIL("expected audio::Error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("no usable audio"));
    CHECK_THAT(e.what(), Catch::Contains("dropped 1 unreadable"));
    CHECK_THAT(e.what(), Catch::Contains("dropped 1 too_short"));
    CHECK_THAT(e.what(), Catch::Contains("dropped 1 silent"));
  }
  CHECK_THROWS_WITH(AudioDataset(dir / "missing", o), Catch::Contains("not a directory"));
}
