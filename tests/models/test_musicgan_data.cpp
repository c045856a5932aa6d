// MusicGAN's corpus: hand-made MIDI files in a temporary folder, loaded into
// segments; shapes, counts per reason, errors, and the way back to MIDI.
#include <array>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "models/musicgan_data.h"
#include "models/musicgan_metrics.h"

using namespace cadenza;
using namespace cadenza::models;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kBar44 = 1920, kBar34 = 1440;  // ticks at 480 per quarter

std::string fresh_dir(const std::string& name) {
  fs::path p = fs::path(CADENZA_BINARY_DIR) / "test-tmp" / "musicgan" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

struct TrackSpec {
  std::string name;
  int program = 0, channel = 0;
  std::vector<std::array<int64_t, 3>> notes;  // pitch, start tick, end tick
};

// meters: (tick, numerator, denominator)
midi::Score make_score(const std::vector<TrackSpec>& tracks,
                       const std::vector<std::array<int, 3>>& meters = {{0, 4, 4}},
                       int us_per_quarter = 500000) {
  midi::Score s;
  s.ticks_per_quarter = 480;
  s.tempos.push_back({0, 0.0, us_per_quarter});
  for (const auto& m : meters) {
    midi::TimeSignature ts;
    ts.tick = m[0];
    ts.numerator = m[1];
    ts.denominator = m[2];
    s.time_signatures.push_back(ts);
  }
  for (const TrackSpec& spec : tracks) {
    midi::Track t = midi::make_track(spec.name, spec.program, spec.channel);
    for (const auto& n : spec.notes) {
      midi::Note note;
      note.pitch = static_cast<int>(n[0]);
      note.channel = spec.channel;
      note.start_tick = n[1];
      note.end_tick = n[2];
      t.notes.push_back(note);
      t.end_tick = std::max(t.end_tick, n[2]);
    }
    std::sort(t.notes.begin(), t.notes.end(), [](const midi::Note& a, const midi::Note& b) {
      return std::tie(a.start_tick, a.pitch) < std::tie(b.start_tick, b.pitch);
    });
    s.tracks.push_back(std::move(t));
  }
  s.update_times();
  return s;
}

// Four voices, each holding one pitch per bar through `bars` bars of `bar_ticks`.
std::vector<TrackSpec> satb(int64_t bars, int64_t bar_ticks, int64_t first_bar = 0) {
  std::vector<TrackSpec> v = {
      {"Soprano", 52, 0, {}}, {"Alto", 52, 1, {}}, {"Tenor", 52, 2, {}}, {"Bass", 52, 3, {}}};
  const int base[4] = {72, 67, 60, 48};
  for (int t = 0; t < 4; ++t)
    for (int64_t b = first_bar; b < bars; ++b)
      v[t].notes.push_back({base[t] + (b % 3), b * bar_ticks, (b + 1) * bar_ticks});
  return v;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

// The corpus of the first test: every reason to drop a file or a segment.
std::string mixed_corpus() {
  std::string d = fresh_dir("mixed");
  fs::create_directories(d + "/sub");
  auto a = satb(6, kBar44);
  a[0].notes.push_back({110, 0, 480});  // above B7: dropped and counted
  midi::write(d + "/a.mid", make_score(a));
  midi::write(d + "/b.mid", make_score(satb(8, kBar34), {{0, 3, 4}}));  // all in 3/4
  midi::write(d + "/c.mid", make_score(satb(2, kBar44)));               // too short
  midi::write(d + "/d.mid", make_score({{"Soprano", 52, 0, {}}, {"Alto", 52, 1, {}}}));  // no notes
  write_bytes(d + "/e.mid", "MThd\x00\x00\x00\x06 this is not a MIDI file");
  // f: 4 bars of 4/4, 2 of 3/4, 4 of 4/4.
  std::vector<TrackSpec> f = satb(0, kBar44);
  const int64_t starts[10] = {0, 1920, 3840, 5760, 7680, 9120, 10560, 12480, 14400, 16320};
  for (int t = 0; t < 4; ++t)
    for (int b = 0; b < 10; ++b) f[t].notes.push_back({60 + t, starts[b], starts[b] + 480});
  midi::write(d + "/sub/f.mid", make_score(f, {{0, 4, 4}, {7680, 3, 4}, {10560, 4, 4}}));
  // g: 8 bars of 4/4, sounding only in bar 7.
  midi::write(d + "/sub/g.midi", make_score(satb(8, kBar44, 7)));
  return d;
}

}  // namespace

TEST_CASE("musicgan data: segments and the reasons files and segments are dropped", "[musicgan]") {
  const std::string d = mixed_corpus();
  MultitrackOptions o;
  MultitrackSummary s;
  MultitrackCorpus c = load_multitrack_corpus(d, o, &s);
  INFO(s.str());
  CHECK(s.mode == "order");
  CHECK(c.track_names == std::vector<std::string>{"Soprano", "Alto", "Tenor", "Bass"});
  CHECK(c.programs == std::vector<int>{52, 52, 52, 52});
  CHECK(c.is_drum == std::vector<bool>(4, false));
  CHECK(c.us_per_quarter == 500000);
  CHECK(s.files_found == 7);
  CHECK(s.files_used == 3);  // a, f, g
  CHECK(s.files_dropped["unreadable"] == 1);
  CHECK(s.files_dropped["meter"] == 1);
  CHECK(s.files_dropped["too short"] == 1);
  CHECK(s.files_dropped["empty"] == 1);
  REQUIRE(s.unreadable.size() == 1);
  CHECK(s.unreadable[0].first == "e.mid");
  // a: 3 segments; f: bars 0-3 and 6-9 (5 cross the 3/4 bars); g: only the one holding bar 7.
  CHECK(c.train_size() + c.valid_size() == 6);
  CHECK(s.segments_dropped["meter"] == 5 + 5);  // f's and b's
  CHECK(s.segments_dropped["empty"] == 4);
  CHECK(s.notes_out_of_range == 1);
  CHECK(s.valid_files >= 1);
  CHECK(s.train_files >= 1);
  CHECK_THAT(s.str(), Catch::Contains("unreadable 1") && Catch::Contains("e.mid") &&
                          Catch::Contains("Soprano"));

  Tensor all = c.all(false);
  CHECK(all.shape() == Shape{c.train_size(), 4, 4, 48, 84});
  CHECK(c.all(true).shape() == Shape{c.valid_size(), 4, 4, 48, 84});
  // Every kept segment sounds, and is 0/1.
  for (bool valid : {false, true}) {
    Tensor x = c.all(valid);
    auto v = x.to_vector<float>();
    for (float f : v) REQUIRE((f == 0.f || f == 1.f));
    const int64_t per = 4 * 4 * 48 * 84;
    for (int64_t i = 0; i < x.size(0); ++i) {
      double sum = 0;
      for (int64_t j = 0; j < per; ++j) sum += v[i * per + j];
      CHECK(sum > 0);
    }
  }
  // The segment of a.mid starting at bar 1: bar 1 of the soprano holds 72 + 1
  // (pitch index 73 - 24) for all 48 steps, bar 2 holds 72 + 2.
  bool found = false;
  for (bool valid : {false, true})
    for (int64_t i = 0; i < (valid ? c.valid_size() : c.train_size()); ++i) {
      if (c.segment_source(valid, i) != std::make_pair(std::string("a.mid"), int64_t{1})) continue;
      found = true;
      auto v = c.batch(valid, {i}).to_vector<float>();
      auto at = [&](int64_t t, int64_t b, int64_t s, int64_t p) {
        return v[(((t * 4 + b) * 48 + s) * 84) + p];
      };
      for (int64_t step = 0; step < 48; ++step) {
        CHECK(at(0, 0, step, 73 - 24) == 1);
        CHECK(at(0, 1, step, 74 - 24) == 1);
        CHECK(at(3, 0, step, 49 - 24) == 1);
      }
      CHECK(at(0, 0, 0, 72 - 24) == 0);
    }
  CHECK(found);
  CHECK_THROWS_WITH(c.batch(false, {c.train_size()}),
                    Catch::Contains("outside the training split"));
}

TEST_CASE("musicgan data: hop and the first bars of segments", "[musicgan]") {
  std::string d = fresh_dir("hop");
  midi::write(d + "/a.mid", make_score(satb(9, kBar44)));
  MultitrackOptions o;
  o.hop_bars = 2;
  o.valid_fraction = 0;
  auto c = load_multitrack_corpus(d + "/a.mid", o);  // one file, not a folder
  REQUIRE(c.train_size() == 3);                      // starts 0, 2, 4
  CHECK(c.segment_source(false, 2).second == 4);
  CHECK(c.valid_size() == 0);
}

TEST_CASE("musicgan data: program mode merges General MIDI families", "[musicgan]") {
  std::string d = fresh_dir("program");
  const int64_t four = 4 * kBar44;
  std::vector<TrackSpec> gm = {
      {"Kit", 0, 9, {{36, 0, 40}, {42, 480, 520}, {36, 3 * kBar44, 3 * kBar44 + 40}}},
      {"Grand", 0, 0, {{60, 0, four}}},
      {"Fingered", 33, 1, {{40, 0, 960}, {43, 3 * kBar44, four}}},
      {"Church organ", 19, 2, {{67, kBar44, 2 * kBar44}}},  // organ joins Strings, as in LPD-5
  };
  midi::write(d + "/gm.mid", make_score(gm));
  // A format-0 file: one track, three channels (split by channel on reading).
  std::vector<TrackSpec> small = {{"Nylon", 24, 0, {{64, 0, four}}},
                                  {"Violin", 40, 1, {{76, 0, four}}},
                                  {"Kit", 0, 9, {{38, 0, 40}}}};
  midi::write(d + "/zero.mid", make_score(small), 0);
  MultitrackOptions o;
  MultitrackSummary s;
  auto c = load_multitrack_corpus(d, o, &s);  // 4 and 3 tracks with notes: auto picks program
  INFO(s.str());
  CHECK(s.mode == "program");
  CHECK(c.track_names == std::vector<std::string>{"Drums", "Piano", "Guitar", "Bass", "Strings"});
  CHECK(c.programs == std::vector<int>{0, 0, 24, 32, 48});
  CHECK(c.is_drum == std::vector<bool>{true, false, false, false, false});
  REQUIRE(c.train_size() + c.valid_size() == 2);
  for (bool valid : {false, true})
    for (int64_t i = 0; i < (valid ? c.valid_size() : c.train_size()); ++i) {
      auto v = c.batch(valid, {i}).to_vector<float>();
      auto at = [&](int64_t t, int64_t b, int64_t st, int p) {
        return v[(((t * 4 + b) * 48 + st) * 84) + p - 24];
      };
      if (c.segment_source(valid, i).first == "gm.mid") {
        CHECK(at(0, 0, 0, 36) == 1);  // kick, one step
        CHECK(at(0, 0, 1, 36) == 0);
        CHECK(at(0, 0, 12, 42) == 1);  // hi-hat on beat 2
        CHECK(at(1, 2, 5, 60) == 1);   // piano held through bar 2
        CHECK(at(2, 0, 0, 64) == 0);   // no guitar here
        CHECK(at(3, 0, 23, 40) == 1);  // bass
        CHECK(at(3, 0, 24, 40) == 0);
        CHECK(at(4, 1, 0, 67) == 1);  // organ -> Strings
        CHECK(at(4, 0, 0, 67) == 0);
      } else {
        CHECK(at(2, 0, 0, 64) == 1);   // nylon guitar
        CHECK(at(4, 3, 47, 76) == 1);  // violin
        CHECK(at(0, 0, 0, 38) == 1);
      }
    }
  // Forcing order mode on the same folder: the 3-track file has too few tracks.
  o.tracks = "order";
  MultitrackSummary so;
  auto co = load_multitrack_corpus(d, o, &so);
  CHECK(so.mode == "order");
  CHECK(co.track_names == std::vector<std::string>{"Kit", "Grand", "Fingered", "Church organ"});
  CHECK(co.is_drum == std::vector<bool>{true, false, false, false});
  CHECK(so.files_dropped["too few tracks"] == 1);
}

TEST_CASE("musicgan data: errors name the folder and the option", "[musicgan]") {
  std::string d = fresh_dir("unusable");
  midi::write(d + "/short.mid", make_score(satb(2, kBar44)));
  write_bytes(d + "/broken.mid", "MThd");
  MultitrackOptions o;
  CHECK_THROWS_WITH(load_multitrack_corpus(d, o),
                    Catch::Contains(d) && Catch::Contains("too short 1") &&
                        Catch::Contains("unreadable 1") && Catch::Contains("broken.mid"));
  std::string empty = fresh_dir("no-midi");
  CHECK_THROWS_WITH(load_multitrack_corpus(empty, o),
                    Catch::Contains("no .mid or .midi file") && Catch::Contains(empty));
  CHECK_THROWS_WITH(load_multitrack_corpus(d + "/missing", o), Catch::Contains(d + "/missing"));

  auto option_of = [&](MultitrackOptions bad) {
    try {
      load_multitrack_corpus(d, bad);
    } catch (const OptionError& e) {
      return e.option;
    }
    return std::string("(none)");
  };
  MultitrackOptions b = o;
  b.bars = 0;
  CHECK(option_of(b) == "bars");
  b = o;
  b.tracks = "families";
  CHECK(option_of(b) == "tracks");
  b = o;
  b.meter_denominator = 3;
  CHECK(option_of(b) == "meter_denominator");
  b = o;
  b.lowest_pitch = 60;
  CHECK(option_of(b) == "lowest_pitch");
  b = o;
  b.hop_bars = 0;
  CHECK(option_of(b) == "hop_bars");
  b = o;
  b.valid_fraction = 1;
  CHECK(option_of(b) == "valid_fraction");
  b = o;
  b.steps_per_bar = 0;
  CHECK(option_of(b) == "steps_per_bar");
}

TEST_CASE("musicgan data: roll -> multitrack_to_score -> load gives the same roll", "[musicgan]") {
  std::string d = fresh_dir("roundtrip-src");
  auto v = satb(4, kBar44);
  v[0].notes.push_back(
      {90, 100, 130});  // a short note off the grid: 2.5 -> 3 .. 3.25 -> 3, kept 1 step
  v[1].notes.push_back({70, 1900, 2000});  // across the bar line
  v[2].notes.push_back({61, 1000, 1041});  // 25 -> 26.03: step 25 only
  midi::write(d + "/a.mid", make_score(v, {{0, 4, 4}}, 600000));
  MultitrackOptions o;
  o.valid_fraction = 0;
  auto c = load_multitrack_corpus(d, o);
  REQUIRE(c.train_size() == 1);
  Tensor roll = c.batch(false, {0}).reshape({4, 4, 48, 84});

  midi::Score back = multitrack_to_score(roll, c);
  CHECK(back.tracks.size() == 4);
  CHECK(back.tracks[1].name == "Alto");
  CHECK(back.tracks[1].program == 52);
  CHECK(back.tracks[1].channel == 1);
  CHECK(back.us_per_quarter_at_start() == 600000);
  REQUIRE(back.time_signatures.size() == 1);
  CHECK(back.time_signatures[0].numerator == 4);
  // The bar-line crossing note is one note: 1900 -> step 47.5 -> 48 (rounds
  // half away from zero), 2000 -> 50: steps 48..50 of the roll, ticks 1920..2000.
  bool crossing = false;
  for (const auto& n : back.tracks[1].notes)
    if (n.pitch == 70) crossing = n.start_tick == 1920 && n.end_tick == 2000;
  CHECK(crossing);

  std::string d2 = fresh_dir("roundtrip-dst");
  midi::write(d2 + "/back.mid", back);
  MultitrackSummary s2;
  auto c2 = load_multitrack_corpus(d2, o, &s2);
  INFO(s2.str());
  REQUIRE(c2.train_size() == 1);
  CHECK(c2.track_names == c.track_names);
  CHECK(c2.us_per_quarter == 600000);
  CHECK(c2.all(false).to_vector<float>() == c.all(false).to_vector<float>());

  // Drums go to channel 9 and the others skip it.
  MultitrackMeta m;
  for (int t = 0; t < 11; ++t) {
    m.track_names.push_back("T" + std::to_string(t));
    m.programs.push_back(t);
    m.is_drum.push_back(t == 1);
  }
  m.meter_numerator = 3;
  Tensor r = Tensor::zeros({11, 1, 48, 84});
  r.data<float>()[0] = 0.9f;  // track 0, step 0, pitch 24: one step of 3/4 at 48 steps = 30 ticks
  midi::Score sc = multitrack_to_score(r, m);
  CHECK(sc.tracks[0].channel == 0);
  CHECK(sc.tracks[1].channel == 9);
  CHECK(sc.tracks[2].channel == 1);
  CHECK(sc.tracks[10].channel == 10);  // 0..8 for tracks 0, 2..9; then 10
  REQUIRE(sc.tracks[0].notes.size() == 1);
  CHECK(sc.tracks[0].notes[0].end_tick == 30);
  CHECK(sc.tracks[0].notes[0].pitch == 24);
  CHECK(multitrack_to_score(r, m, 0.95f).tracks[0].notes.empty());
  CHECK_THROWS_WITH(multitrack_to_score(Tensor::zeros({2, 1, 48, 84}), m),
                    Catch::Contains("2 tracks"));
}

TEST_CASE("musicgan data: the default chorale folder follows CADENZA_DATA", "[musicgan]") {
  const char* old = std::getenv("CADENZA_DATA");
  std::string saved = old ? old : "";
  setenv("CADENZA_DATA", "/data/x", 1);
  CHECK(default_chorale_dir() == "/data/x/bach-chorales");
  unsetenv("CADENZA_DATA");
  CHECK(default_chorale_dir().find("cadenza/bach-chorales") != std::string::npos);
  if (old) setenv("CADENZA_DATA", saved.c_str(), 1);
}

// Hidden ([.]): run with `test_musicgan "[chorales]"` after
// scripts/prepare_bach_chorales.sh, to see the real corpus's counts.
TEST_CASE("musicgan data: the prepared Bach chorales", "[.][chorales]") {
  const std::string dir = default_chorale_dir();
  if (!fs::exists(dir + "/.complete")) {
    WARN("no prepared chorales in " << dir);
    return;
  }
  MultitrackSummary s;
  auto c = load_multitrack_corpus(dir, MultitrackOptions{}, &s);
  WARN(s.str());
  CHECK(s.mode == "order");
  CHECK(c.track_names == std::vector<std::string>{"Soprano", "Alto", "Tenor", "Bass"});
  CHECK(c.train_size() > 1000);
  // The metrics of the training segments against the held-out ones.
  auto train =
      musegan_metrics(c.all(false), c.is_drum, c.options.lowest_pitch, c.options.steps_per_bar);
  auto valid =
      musegan_metrics(c.all(true), c.is_drum, c.options.lowest_pitch, c.options.steps_per_bar);
  WARN("train (data) against held out (samples):\n" << metrics_table(train, valid, c.track_names));
}
