// audio::load / save / info / to_mono, and every failure that must surface as
// audio::Error naming the file and quoting libsndfile.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "audio/audio.h"
#include "audio_test_util.h"

using namespace cadenza::audio;
using namespace cadenza::audio::testing;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The message of the audio::Error that `fn` throws ("" if it throws none).
template <class F>
std::string error_of(F fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Largest |a - b| over all channels, after checking the layout matches.
double round_trip_error(const Buffer& a, const Buffer& b) {
  REQUIRE(b.sample_rate == a.sample_rate);
  REQUIRE(b.channels == a.channels);
  REQUIRE(b.frames() == a.frames());
  return max_abs_diff(a.data.data(), b.data.data(), static_cast<int64_t>(a.data.size()));
}

}  // namespace

TEST_CASE("save then load keeps PCM within one and a half quantisation steps", "[audio][io]") {
  ScratchDir dir("pcm");
  const Buffer b = stereo_sines(4000, 44100);
  // libsndfile writes round(x * (2^(bits-1) - 1)) and reads back / 2^(bits-1):
  // at most half a step of rounding plus one step of scale mismatch.
  struct Case {
    const char* name;
    Subtype subtype;
    double step;
    const char* format;
    const char* subtype_name;
  };
  const Case cases[] = {
      {"a16.wav", Subtype::kPcm16, 1.0 / 32768, "WAV", "PCM_16"},
      {"a24.wav", Subtype::kPcm24, 1.0 / 8388608, "WAV", "PCM_24"},
      {"a16.flac", Subtype::kDefault, 1.0 / 32768, "FLAC", "PCM_16"},
      {"a24.flac", Subtype::kPcm24, 1.0 / 8388608, "FLAC", "PCM_24"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const std::string path = dir / c.name;
    save(path, b, SaveOptions{c.subtype});
    const double err = round_trip_error(b, load(path));
    CHECK(err <= 1.5 * c.step);
    CHECK(err > 0.0);  // really quantised, so the subtype was honoured
    const Info in = info(path);
    CHECK(in.format == c.format);
    CHECK(in.subtype == c.subtype_name);
    CHECK(in.channels == 2);
    CHECK(in.sample_rate == 44100);
    CHECK(in.frames == 4000);
    CHECK(in.seconds == Approx(4000.0 / 44100));
  }
}

TEST_CASE("float WAV round trip is exact", "[audio][io]") {
  ScratchDir dir("float");
  const Buffer b = stereo_sines(3001, 16000);
  save(dir / "f.wav", b, SaveOptions{Subtype::kFloat});
  CHECK(round_trip_error(b, load(dir / "f.wav")) == 0.0);
  CHECK(info(dir / "f.wav").subtype == "FLOAT");
}

TEST_CASE("OGG/Vorbis round trip keeps layout and a clean sine", "[audio][io]") {
  ScratchDir dir("ogg");
  Buffer b;
  b.sample_rate = 22050;
  b.channels = 1;
  b.data = sine(22050, 440.0, 22050, 0.5);
  save(dir / "s.ogg", b);
  const Buffer r = load(dir / "s.ogg");
  REQUIRE(r.sample_rate == 22050);
  REQUIRE(r.channels == 1);
  REQUIRE(r.frames() == b.frames());
  // Lossy: the signal-to-error ratio of the middle (away from codec edges)
  // must exceed 30 dB at the default quality 0.7.
  double sig = 0.0, err = 0.0;
  for (int64_t i = 2048; i < b.frames() - 2048; ++i) {
    sig += double(b.data[i]) * b.data[i];
    err += (double(r.data[i]) - b.data[i]) * (double(r.data[i]) - b.data[i]);
  }
  CHECK(10.0 * std::log10(sig / err) > 30.0);
  CHECK(info(dir / "s.ogg").format == "OGG");
  CHECK(info(dir / "s.ogg").subtype == "VORBIS");
}

TEST_CASE("save clips out-of-range samples instead of wrapping", "[audio][io]") {
  ScratchDir dir("clip");
  Buffer b;
  b.sample_rate = 8000;
  b.channels = 1;
  b.data = {1.5f, -1.5f, 0.25f, 3.0f, -7.0f, std::nanf(""), 1.0f, -1.0f};
  for (Subtype s : {Subtype::kPcm16, Subtype::kPcm24, Subtype::kFloat}) {
    save(dir / "c.wav", b, SaveOptions{s});
    const Buffer r = load(dir / "c.wav");
    INFO("subtype " << static_cast<int>(s));
    CHECK(r.data[0] >= 0.999f);
    CHECK(r.data[0] <= 1.0f);
    CHECK(r.data[1] <= -0.999f);  // PCM writes -1 as -(2^(bits-1) - 1)
    CHECK(r.data[1] >= -1.0f);
    CHECK(r.data[2] == Approx(0.25f).margin(1e-4));
    CHECK(r.data[3] >= 0.999f);
    CHECK(r.data[4] <= -0.999f);
    CHECK(r.data[5] == 0.0f);  // NaN is written as silence
    CHECK(r.data[6] >= 0.999f);
    CHECK(r.data[7] <= -0.999f);
  }
}

TEST_CASE("to_mono averages the channels", "[audio][io]") {
  const Buffer b = stereo_sines(500, 8000);
  const Buffer m = to_mono(b);
  REQUIRE(m.channels == 1);
  REQUIRE(m.frames() == 500);
  REQUIRE(m.sample_rate == 8000);
  for (int64_t i = 0; i < 500; ++i) {
    CHECK(m.data[i] == Approx((b.channel(0)[i] + b.channel(1)[i]) / 2.0).margin(1e-7));
  }
}

TEST_CASE("load_memory reads the same samples as load", "[audio][io]") {
  ScratchDir dir("mem");
  const Buffer b = stereo_sines(1234, 16000);
  save(dir / "m.flac", b);
  const std::string bytes = read_bytes(dir / "m.flac");
  const Buffer a = load(dir / "m.flac");
  const Buffer m = load_memory(bytes.data(), bytes.size(), "m.flac");
  CHECK(round_trip_error(a, m) == 0.0);
  CHECK_THROWS_AS(load_memory(bytes.data(), 40, "cut.flac"), Error);
}

TEST_CASE("bad files raise audio::Error with the file name and libsndfile's message",
          "[audio][io][errors]") {
  ScratchDir dir("err");
  Buffer good;
  good.sample_rate = 16000;
  good.channels = 1;
  good.data = sine(16000, 440.0, 16000);
  save(dir / "good.wav", good);
  save(dir / "good.flac", good);
  const std::string wav = read_bytes(dir / "good.wav");
  const std::string flac = read_bytes(dir / "good.flac");

  SECTION("missing") {
    const std::string m = error_of([&] { load(dir / "nope.wav"); });
    CHECK_THAT(m, Catch::Contains("nope.wav"));
    CHECK_THAT(m, Catch::Contains("libsndfile: System error"));
    CHECK_THAT(m, Catch::Contains("No such file"));
    CHECK_THAT(error_of([&] { info(dir / "nope.wav"); }), Catch::Contains("nope.wav"));
  }
  SECTION("empty") {
    write_bytes(dir / "empty.wav", "");
    const std::string m = error_of([&] { load(dir / "empty.wav"); });
    CHECK_THAT(m, Catch::Contains("empty.wav"));
    CHECK_THAT(m, Catch::Contains("empty (0 bytes)"));
    CHECK_THAT(m, Catch::Contains("libsndfile: Format not recognised"));
  }
  SECTION("truncated WAV data") {
    write_bytes(dir / "cut.wav", wav.substr(0, wav.size() / 2));
    const std::string m = error_of([&] { load(dir / "cut.wav"); });
    CHECK_THAT(m, Catch::Contains("cut.wav"));
    CHECK_THAT(m, Catch::Contains("truncated"));
    CHECK_THAT(m, Catch::Contains("libsndfile: "));
  }
  SECTION("truncated WAV header") {
    write_bytes(dir / "head.wav", wav.substr(0, 30));
    const std::string m = error_of([&] { load(dir / "head.wav"); });
    CHECK_THAT(m, Catch::Contains("head.wav"));
    CHECK_THAT(m, Catch::Contains("libsndfile: Error in WAV file"));
  }
  SECTION("truncated FLAC stream") {
    write_bytes(dir / "cut.flac", flac.substr(0, flac.size() / 2));
    const std::string m = error_of([&] { load(dir / "cut.flac"); });
    CHECK_THAT(m, Catch::Contains("cut.flac"));
    CHECK_THAT(m, Catch::Contains("truncated or corrupt"));
    CHECK_THAT(m, Catch::Contains("libsndfile: "));
  }
  SECTION("truncated OGG stream") {
    Buffer noise;
    noise.sample_rate = 22050;
    noise.channels = 1;
    noise.data.resize(33075);
    uint32_t state = 1;
    for (float& v : noise.data) {  // noise: Vorbis cannot squeeze it into a few pages
      state = state * 1664525u + 1013904223u;
      v = static_cast<float>(state >> 8) / 16777216.0f - 0.5f;
    }
    save(dir / "n.ogg", noise);
    const std::string ogg = read_bytes(dir / "n.ogg");
    write_bytes(dir / "cut.ogg", ogg.substr(0, ogg.size() / 2));
    const std::string m = error_of([&] { load(dir / "cut.ogg"); });
    CHECK_THAT(m, Catch::Contains("cut.ogg"));
    CHECK_THAT(m, Catch::Contains("truncated"));
    CHECK_THAT(m, Catch::Contains("libsndfile: "));
    CHECK(info(dir / "cut.ogg").frames == -1);
    CHECK(info(dir / "n.ogg").frames == 33075);
  }
  SECTION("not audio") {
    write_bytes(dir / "notes.wav", "these are not the samples you are looking for\n");
    const std::string m = error_of([&] { load(dir / "notes.wav"); });
    CHECK_THAT(m, Catch::Contains("notes.wav"));
    CHECK_THAT(m, Catch::Contains("libsndfile: Format not recognised"));
  }
  SECTION("unsupported format: a MIDI file") {
    write_bytes(dir / "song.mid", std::string("MThd\0\0\0\6\0\0\0\1\1\xe0", 14) +
                                      std::string("MTrk\0\0\0\4\0\xff\x2f\0", 12));
    const std::string m = error_of([&] { load(dir / "song.mid"); });
    CHECK_THAT(m, Catch::Contains("song.mid"));
    CHECK_THAT(m, Catch::Contains("libsndfile: Format not recognised"));
  }
  SECTION("unsupported extension on save") {
    const std::string m = error_of([&] { save(dir / "x.mp4", good); });
    CHECK_THAT(m, Catch::Contains("x.mp4"));
    CHECK_THAT(m, Catch::Contains("'.mp4'"));
    CHECK_THAT(m, Catch::Contains(".wav, .flac or .ogg"));
    CHECK_THAT(error_of([&] { save(dir / "noext", good); }), Catch::Contains("noext"));
    CHECK_FALSE(std::filesystem::exists(dir / "x.mp4"));
  }
  SECTION("bad subtypes for the container") {
    CHECK_THAT(error_of([&] { save(dir / "f.flac", good, SaveOptions{Subtype::kFloat}); }),
               Catch::Contains("FLAC cannot hold float"));
    CHECK_THAT(error_of([&] { save(dir / "v.wav", good, SaveOptions{Subtype::kVorbis}); }),
               Catch::Contains(".ogg"));
    CHECK_THROWS_AS(parse_subtype("PCM_12"), Error);
    CHECK(parse_subtype("pcm_24") == Subtype::kPcm24);
  }
  SECTION("zero-length audio") {
    Buffer none;
    none.sample_rate = 16000;
    none.channels = 1;
    save(dir / "zero.wav", none);  // a valid header with no frames
    CHECK(info(dir / "zero.wav").frames == 0);
    const std::string m = error_of([&] { load(dir / "zero.wav"); });
    CHECK_THAT(m, Catch::Contains("zero.wav"));
    CHECK_THAT(m, Catch::Contains("0 frames"));
  }
  SECTION("a buffer that cannot be saved") {
    Buffer odd;
    odd.sample_rate = 16000;
    odd.channels = 2;
    odd.data = {0.1f, 0.2f, 0.3f};
    CHECK_THAT(error_of([&] { save(dir / "odd.wav", odd); }), Catch::Contains("3 samples"));
    odd.channels = 0;
    CHECK_THAT(error_of([&] { save(dir / "odd.wav", odd); }), Catch::Contains("0 channels"));
  }
}
