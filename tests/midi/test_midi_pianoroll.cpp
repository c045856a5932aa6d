// Piano rolls: values of binary / velocity / onset rolls, the way back to
// MIDI, time grids, and the Tensor conversion.
#include <algorithm>
#include <tuple>

#include "midi/pianoroll.h"
#include "midi/pianoroll_tensor.h"
#include "midi_test_util.h"

using namespace cadenza::midi;

namespace {

// Two tracks at 96 ticks per quarter; a step of 4 per beat is 24 ticks.
Score two_tracks() {
  Score s;
  s.ticks_per_quarter = 96;
  s.tempos.push_back({0, 0.0, 600000});
  Track a = make_track("piano", 0, 0), b = make_track("bass", 33, 1);
  auto note = [](int p, int v, int ch, int64_t a0, int64_t a1) {
    Note n;
    n.pitch = p;
    n.velocity = v;
    n.channel = ch;
    n.start_tick = a0;
    n.end_tick = a1;
    return n;
  };
  a.notes = {note(60, 127, 0, 0, 48), note(64, 64, 0, 24, 96), note(60, 100, 0, 72, 96)};
  b.notes = {note(36, 80, 1, 0, 192)};
  a.end_tick = 96;
  b.end_tick = 192;
  s.tracks = {a, b};
  s.update_times();
  return s;
}

std::vector<std::tuple<int, int64_t, int64_t, int>> notes_of(const Track& t) {
  std::vector<std::tuple<int, int64_t, int64_t, int>> out;
  for (const Note& n : t.notes) out.emplace_back(n.pitch, n.start_tick, n.end_tick, n.velocity);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("piano roll: binary, velocity and onset values", "[midi][pianoroll]") {
  Score s = two_tracks();
  RollOptions o;
  o.steps_per_beat = 4;
  PianoRoll bin = to_pianoroll(s, o);
  REQUIRE(bin.tracks == 2);
  REQUIRE(bin.steps == 8);  // 192 ticks / 24
  REQUIRE(bin.data.size() == 2 * 8 * 128);
  CHECK(bin.at(0, 0, 60) == 1.0f);
  CHECK(bin.at(0, 1, 60) == 1.0f);
  CHECK(bin.at(0, 2, 60) == 0.0f);
  CHECK(bin.at(0, 3, 60) == 1.0f);
  CHECK(bin.at(0, 4, 60) == 0.0f);
  CHECK(bin.at(0, 1, 64) == 1.0f);
  CHECK(bin.at(0, 0, 64) == 0.0f);
  CHECK(bin.at(1, 7, 36) == 1.0f);
  CHECK(std::count(bin.data.begin(), bin.data.end(), 1.0f) == 2 + 3 + 1 + 8);

  o.kind = RollKind::kVelocity;
  PianoRoll vel = to_pianoroll(s, o);
  CHECK(vel.at(0, 0, 60) == 1.0f);
  CHECK(vel.at(0, 2, 64) == Approx(64 / 127.0));
  CHECK(vel.at(1, 3, 36) == Approx(80 / 127.0));

  o.kind = RollKind::kOnset;
  PianoRoll on = to_pianoroll(s, o);
  CHECK(on.at(0, 0, 60) == 1.0f);
  CHECK(on.at(0, 1, 60) == 0.0f);
  CHECK(on.at(0, 3, 60) == 1.0f);
  CHECK(std::count(on.data.begin(), on.data.end(), 1.0f) == 4);
}

TEST_CASE("piano roll: back to MIDI gives the same notes", "[midi][pianoroll]") {
  Score s = two_tracks();
  RollOptions o;
  o.steps_per_beat = 4;
  FromRollOptions back;
  back.ticks_per_quarter = 96;
  SECTION("velocity roll: pitches, times and velocities") {
    o.kind = RollKind::kVelocity;
    Score r = from_pianoroll(to_pianoroll(s, o), back);
    REQUIRE(r.tracks.size() == 2);
    CHECK(notes_of(r.tracks[0]) == notes_of(s.tracks[0]));
    CHECK(notes_of(r.tracks[1]) == notes_of(s.tracks[1]));
    CHECK(r.tracks[1].program == 33);
    CHECK(r.tracks[1].channel == 1);
    CHECK(r.tracks[0].name == "piano");
    CHECK(r.us_per_quarter_at_start() == 600000);
    CHECK(r.duration() == Approx(s.duration()));
  }
  SECTION("binary roll: pitches and times at the default velocity") {
    back.velocity = 77;
    Score r = from_pianoroll(to_pianoroll(s, o), back);
    REQUIRE(r.tracks[0].notes.size() == 3);
    for (const Note& n : r.tracks[0].notes) CHECK(n.velocity == 77);
    CHECK(r.tracks[1].notes[0].end_tick == 192);
  }
  SECTION("onset roll: one step per note") {
    o.kind = RollKind::kOnset;
    Score r = from_pianoroll(to_pianoroll(s, o), back);
    REQUIRE(r.tracks[0].notes.size() == 3);
    for (const Note& n : r.tracks[0].notes) CHECK(n.end_tick - n.start_tick == 24);
  }
  SECTION("the MIDI file written from a roll reads back as the roll") {
    o.kind = RollKind::kBinary;
    PianoRoll roll = to_pianoroll(s, o);
    std::vector<uint8_t> bytes = serialize(from_pianoroll(roll, back));
    PianoRoll again = to_pianoroll(parse(bytes.data(), bytes.size()), o);
    CHECK(again.data == roll.data);
  }
}

TEST_CASE("piano roll: a grid in seconds and the drum switch", "[midi][pianoroll]") {
  Score s = two_tracks();  // 100 bpm: a quarter is 0.6 s
  s.tracks[1].notes[0].channel = 9;
  RollOptions o;
  o.seconds_per_step = 0.15;  // a sixteenth at 100 bpm
  PianoRoll r = to_pianoroll(s, o);
  CHECK(r.steps == 8);
  CHECK(r.seconds_per_step == 0.15);
  CHECK(r.at(0, 3, 60) == 1.0f);
  CHECK(r.at(1, 0, 36) == 1.0f);
  o.include_drums = false;
  PianoRoll nd = to_pianoroll(s, o);
  REQUIRE(nd.tracks == 2);  // the drum track stays, silent
  for (int64_t t = 0; t < nd.steps; ++t) CHECK(nd.at(1, t, 36) == 0.0f);
  // Back from a time grid at the roll's tempo: the notes land where they were.
  FromRollOptions back;
  back.ticks_per_quarter = 96;
  Score b = from_pianoroll(r, back);
  CHECK(notes_of(b.tracks[0]) == std::vector<std::tuple<int, int64_t, int64_t, int>>{
                                     {60, 0, 48, 100}, {60, 72, 96, 100}, {64, 24, 96, 100}});
}

TEST_CASE("piano roll: errors", "[midi][pianoroll]") {
  Score s = two_tracks();
  RollOptions o;
  o.steps_per_beat = 0;
  CHECK_THROWS_AS(to_pianoroll(s, o), Error);
  o.steps_per_beat = 24;
  o.max_steps = 10;
  CHECK_THROWS_WITH(to_pianoroll(s, o), Catch::Contains("max_steps"));
  Score smpte = s;
  smpte.ticks_per_quarter = 0;
  smpte.smpte_fps = 25;
  smpte.ticks_per_frame = 40;
  CHECK_THROWS_WITH(to_pianoroll(smpte, RollOptions{}), Catch::Contains("SMPTE"));
  PianoRoll bad;
  bad.tracks = 1;
  bad.steps = 2;
  bad.steps_per_beat = 4;
  bad.data.assign(10, 0.0f);
  CHECK_THROWS_WITH(from_pianoroll(bad), Catch::Contains("tracks x steps x 128"));
}

TEST_CASE("piano roll: Tensor conversion keeps [tracks, steps, 128]", "[midi][pianoroll]") {
  RollOptions o;
  o.steps_per_beat = 4;
  o.kind = RollKind::kVelocity;
  PianoRoll r = to_pianoroll(two_tracks(), o);
  cadenza::Tensor t = roll_to_tensor(r);
  CHECK(t.shape() == cadenza::Shape{2, 8, 128});
  CHECK(t.to_vector<float>() == r.data);
  PianoRoll back = roll_from_tensor(t, RollKind::kVelocity, 4);
  CHECK(back.data == r.data);
  CHECK(back.steps == 8);
  CHECK(back.channels[1] == 1);
  CHECK_THROWS_WITH(roll_from_tensor(cadenza::Tensor::zeros({2, 8, 127}), RollKind::kBinary, 4),
                    Catch::Contains("[tracks, steps, 128]"));
  CHECK_THROWS_AS(roll_from_tensor(t, RollKind::kBinary, 4, 0.1), Error);
  cadenza::Tensor tok = tokens_to_tensor({3, 1, 387});
  CHECK(tok.shape() == cadenza::Shape{3});
  CHECK(tok.to_vector<int64_t>() == std::vector<int64_t>{3, 1, 387});
}
