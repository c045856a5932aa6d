// Performance (388-token) and melody vocabularies: exact ids on small scores,
// decode(encode(x)) == x up to the grid and velocity bins, and errors on bad ids.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <tuple>

#include "midi/tokens.h"
#include "midi_test_util.h"

using namespace cadenza::midi;

namespace {

// A one-track score at 120 bpm, 500 ticks per quarter (1 tick = 1 ms).
Score score_ms(const std::vector<std::tuple<int, int, int64_t, int64_t>>&
                   notes) {  // pitch, vel, start, end (ms)
  Score s;
  s.ticks_per_quarter = 500;
  s.tempos.push_back({0, 0.0, 500000});
  Track t = make_track("t", 0, 0);
  for (auto [p, v, a, b] : notes) {
    Note n;
    n.pitch = p;
    n.velocity = v;
    n.start_tick = a;
    n.end_tick = b;
    t.notes.push_back(n);
    t.end_tick = std::max(t.end_tick, b);
  }
  s.tracks.push_back(t);
  s.update_times();
  return s;
}

// (pitch, binned velocity, start step, end step) of every pitched note, as
// performance::encode sees them.
using Quantized = std::vector<std::tuple<int, int, int64_t, int64_t>>;
Quantized quantize_10ms(const Score& s) {
  Quantized out;
  for (const Track& t : s.tracks) {
    for (const Note& n : t.notes) {
      if (n.channel == 9) continue;
      // The same arithmetic as the encoder, so .5 cases round the same way.
      int64_t a = std::llround(n.start / performance::kStepSeconds);
      int64_t b =
          std::max(a + 1, static_cast<int64_t>(std::llround(n.end / performance::kStepSeconds)));
      out.emplace_back(
          n.pitch, performance::bin_to_velocity(performance::velocity_to_bin(n.velocity)), a, b);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The note-on events (pitch, velocity bin, step) and note-off events (pitch,
// step) apart: notes of one pitch that overlap across tracks are re-paired
// first-in-first-out by the decoder, which keeps the events but not the pairs.
std::pair<std::vector<std::tuple<int, int, int64_t>>, std::vector<std::pair<int, int64_t>>>
events_of(const Quantized& q) {
  std::vector<std::tuple<int, int, int64_t>> ons;
  std::vector<std::pair<int, int64_t>> offs;
  for (auto [p, v, a, b] : q) {
    ons.emplace_back(p, v, a);
    offs.emplace_back(p, b);
  }
  std::sort(ons.begin(), ons.end());
  std::sort(offs.begin(), offs.end());
  return {ons, offs};
}

}  // namespace

TEST_CASE("performance tokens: ids of a small score", "[midi][tokens]") {
  namespace pf = performance;
  CHECK(pf::kVocabSize == 388);
  Score s = score_ms({{60, 100, 0, 500}, {64, 100, 2500, 2600}, {67, 20, 2500, 2500}});
  std::vector<int32_t> t = pf::encode(s);
  // Bin (100 - 1) / 4 + 1 = 25; 2 s of silence in two full shifts; at 2.5 s
  // the ons go by pitch and velocity 20 (bin 5) needs its own token; the
  // zero-length note lasts one step.
  std::vector<int32_t> expected = {pf::kVelocity + 24, pf::kNoteOn + 60,    pf::kTimeShift + 49,
                                   pf::kNoteOff + 60,  pf::kTimeShift + 99, pf::kTimeShift + 99,
                                   pf::kNoteOn + 64,   pf::kVelocity + 4,   pf::kNoteOn + 67,
                                   pf::kTimeShift + 0, pf::kNoteOff + 67,   pf::kTimeShift + 8,
                                   pf::kNoteOff + 64};
  CHECK(t == expected);
  CHECK(pf::token_name(pf::kNoteOn + 60) == "NOTE_ON 60");
  CHECK(pf::token_name(pf::kNoteOff + 61) == "NOTE_OFF 61");
  CHECK(pf::token_name(pf::kTimeShift + 99) == "TIME_SHIFT 1000ms");
  CHECK(pf::token_name(pf::kVelocity + 31) == "VELOCITY 32");
}

TEST_CASE("performance tokens: velocity bins are Magenta's", "[midi][tokens]") {
  using namespace performance;
  CHECK(velocity_to_bin(1) == 1);
  CHECK(velocity_to_bin(4) == 1);
  CHECK(velocity_to_bin(5) == 2);
  CHECK(velocity_to_bin(127) == 32);
  CHECK(bin_to_velocity(1) == 1);
  CHECK(bin_to_velocity(32) == 125);
  for (int v = 1; v <= 127; ++v)
    CHECK(velocity_to_bin(bin_to_velocity(velocity_to_bin(v))) == velocity_to_bin(v));
  CHECK_THROWS_AS(velocity_to_bin(0), Error);
  CHECK_THROWS_AS(bin_to_velocity(33), Error);
}

TEST_CASE("performance tokens: decode(encode(x)) is x on the 10 ms grid", "[midi][tokens]") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::tuple<int, int, int64_t, int64_t>> notes;
    std::map<int, int64_t> free_at;  // pitch -> when it is free again (no overlaps of one pitch)
    for (int i = 0; i < 200; ++i) {
      int p = std::uniform_int_distribution<int>(21, 108)(rng);
      int64_t a = std::max(free_at[p], std::uniform_int_distribution<int64_t>(0, 30000)(rng));
      int64_t b = a + std::uniform_int_distribution<int64_t>(0, 3000)(rng);
      free_at[p] = b + 20;
      notes.emplace_back(p, std::uniform_int_distribution<int>(1, 127)(rng), a, b);
    }
    Score x = score_ms(notes);
    Score y = performance::decode(performance::encode(x));
    REQUIRE(quantize_10ms(y) == quantize_10ms(x));
    // Decoded notes sit exactly on the grid, so a second pass changes nothing.
    CHECK(performance::encode(y) == performance::encode(x));
  }
}

TEST_CASE("performance tokens: every corpus file keeps its note events through decode(encode(x))",
          "[midi][tokens][corpus]") {
  for (const std::string& path : midi_test::corpus_files()) {
    INFO(path);
    Score x = read(path);
    std::vector<int32_t> tokens = performance::encode(x);
    CHECK(std::all_of(tokens.begin(), tokens.end(), [](int32_t t) { return t >= 0 && t < 388; }));
    Score y = performance::decode(tokens);
    CHECK(events_of(quantize_10ms(y)) == events_of(quantize_10ms(x)));
  }
}

TEST_CASE("performance tokens: drums, truncation and bad ids", "[midi][tokens]") {
  Score s = score_ms({{60, 64, 0, 100}});
  Note drum;
  drum.pitch = 36;
  drum.channel = 9;
  drum.start_tick = 50;
  drum.end_tick = 60;
  s.tracks[0].notes.push_back(drum);
  s.update_times();
  CHECK(performance::decode(performance::encode(s)).note_count() == 1);
  performance::EncodeOptions with_drums;
  with_drums.include_drums = true;
  CHECK(performance::decode(performance::encode(s, with_drums)).note_count() == 2);
  performance::EncodeOptions short_;
  short_.max_tokens = 3;
  CHECK(performance::encode(s, short_).size() <= 3);
  CHECK_THROWS_WITH(performance::decode({1, 2, 388}), Catch::Contains("token 2 is 388"));
  CHECK_THROWS_AS(performance::decode({-1}), Error);
  // A note still sounding at the end lasts at least one step.
  Score open = performance::decode({60});
  REQUIRE(open.note_count() == 1);
  CHECK(open.tracks[0].notes[0].end == Approx(0.01));
}

TEST_CASE("melody: extraction keeps the highest (or lowest) note", "[midi][tokens]") {
  // 480 ticks per quarter: a sixteenth is 120 ticks.
  Score s;
  s.ticks_per_quarter = 480;
  Track t = make_track("chords", 0, 0);
  auto add = [&](int p, int64_t a, int64_t b) {
    Note n;
    n.pitch = p;
    n.start_tick = a * 120;
    n.end_tick = b * 120;
    t.notes.push_back(n);
  };
  add(60, 0, 4);  // C major triad, the fifth shorter
  add(64, 0, 4);
  add(67, 0, 3);
  add(62, 1, 2);  // under the melody note: ignored by both policies
  add(70, 2, 3);  // above it: the highest-note melody takes it
  add(72, 6, 8);  // C5 after a rest
  t.end_tick = 8 * 120;
  s.tracks.push_back(t);
  s.update_times();
  using namespace melody;
  const int N = kNoEvent, O = kNoteOffEvent;
  CHECK(extract(s) == std::vector<int>{67, N, 70, O, N, N, 72, N, O});
  Options low;
  low.policy = Policy::kLowest;
  CHECK(extract(s, low) == std::vector<int>{60, N, N, N, O, N, 72, N, O});
  std::vector<int32_t> tokens = events_to_tokens(extract(s));
  CHECK(tokens == std::vector<int32_t>{2 + 67 - 48, 0, 2 + 70 - 48, 1, 0, 0, 2 + 72 - 48, 0, 1});
  CHECK(tokens_to_events(tokens) == extract(s));
  CHECK(vocab_size(Options{}) == 38);
  CHECK(token_name(2 + 60 - 48) == "NOTE 60");
  CHECK_THROWS_WITH(tokens_to_events({0, 38}), Catch::Contains("token 1 is 38"));
}

TEST_CASE("melody: out-of-range pitches fold by octaves or raise", "[midi][tokens]") {
  using namespace melody;
  Score s = to_score({30, kNoEvent, kNoteOffEvent, 100, kNoteOffEvent});
  CHECK(extract(s) == std::vector<int>{54, kNoEvent, kNoteOffEvent, 76, kNoteOffEvent});
  Options strict;
  strict.fold_octaves = false;
  CHECK_THROWS_WITH(extract(s, strict), Catch::Contains("pitch 30 at step 0"));
  Options narrow;
  narrow.min_pitch = 60;
  narrow.max_pitch = 65;  // 5 semitones: 54 cannot fold into it
  CHECK_THROWS_AS(extract(s, narrow), Error);
  CHECK_THROWS_AS(events_to_tokens({47}), Error);
}

TEST_CASE("melody: extract(to_score(m)) == m for random melodies", "[midi][tokens]") {
  using namespace melody;
  std::mt19937 rng(11);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<int> m;
    bool sounding = false;
    int n = std::uniform_int_distribution<int>(1, 200)(rng);
    for (int i = 0; i < n; ++i) {
      int r = std::uniform_int_distribution<int>(0, 9)(rng);
      if (r < 4) {
        m.push_back(std::uniform_int_distribution<int>(48, 83)(rng));
        sounding = true;
      } else if (r < 5 && sounding) {
        m.push_back(kNoteOffEvent);
        sounding = false;
      } else {
        m.push_back(kNoEvent);
      }
    }
    // Canonical form: a melody ends with the NOTE_OFF of its last note.
    while (!m.empty() && m.back() == kNoEvent) m.pop_back();
    if (m.empty()) m.push_back(60);
    if (m.back() >= 0) m.push_back(kNoteOffEvent);
    Score s = to_score(m);
    REQUIRE(extract(s) == m);
    CHECK(tokens_to_events(events_to_tokens(m)) == m);
  }
}
