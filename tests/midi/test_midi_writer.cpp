// The SMF writer: the byte-level rules it promises (full status bytes, End of
// Track everywhere, tempo map in track 0, note-offs before note-ons at one
// tick), round trips of hand-made scores, and what it refuses to write.
#include <algorithm>
#include <tuple>

#include "midi/score.h"
#include "midi/smf.h"
#include "midi_test_util.h"

using namespace cadenza::midi;
using namespace midi_test;

namespace {

Note note(int pitch, int64_t start, int64_t end, int velocity = 90, int channel = 0) {
  Note n;
  n.pitch = pitch;
  n.velocity = velocity;
  n.channel = channel;
  n.start_tick = start;
  n.end_tick = end;
  return n;
}

// A score that exercises every kind of event the model keeps.
Score sample_score() {
  Score s;
  s.ticks_per_quarter = 480;
  s.tempos = {{0, 0, 500000}, {960, 0, 400000}, {1920, 0, 750000}};
  s.time_signatures = {{0, 0, 4, 4, 24, 8}, {1920, 0, 6, 8, 36, 8}};
  s.key_signatures = {{0, 0, -2, false}, {960, 0, 3, true}};
  Track lead = make_track("lead", 73, 0);
  lead.instrument = "flute";
  lead.notes = {note(60, 0, 480),     note(62, 480, 960),
                note(62, 960, 1200),                                 // same pitch back to back
                note(64, 1000, 1500), note(64, 1200, 1600),          // overlapping same pitch
                note(67, 1600, 1600), note(55, 1600, 1700, 20, 3)};  // zero-length; another channel
  lead.controls = {{0, 0, 0, 7, 100}, {480, 0, 0, 64, 127}, {960, 0, 0, 64, 0}};
  lead.bends = {{100, 0, 0, -8192}, {200, 0, 0, 8191}, {300, 0, 0, 0}};
  lead.texts = {
      {0, 0, kMetaText, "intro"}, {960, 0, kMetaLyric, "la"}, {1200, 0, kMetaMarker, "B"}};
  lead.end_tick = 2000;
  Track drums = make_track("", 0, 9);
  drums.notes = {note(36, 0, 10, 120, 9), note(42, 0, 0, 80, 9), note(36, 480, 490, 120, 9)};
  drums.end_tick = 500;
  s.tracks = {lead, drums};
  for (Track& t : s.tracks) {
    std::sort(t.notes.begin(), t.notes.end(), [](const Note& a, const Note& b) {
      return std::tie(a.start_tick, a.pitch, a.channel, a.end_tick, a.velocity) <
             std::tie(b.start_tick, b.pitch, b.channel, b.end_tick, b.velocity);
    });
  }
  s.update_times();
  return s;
}

}  // namespace

TEST_CASE("midi writer: a hand-made score survives write and read unchanged", "[midi]") {
  Score s = sample_score();
  std::vector<uint8_t> bytes = serialize(s, 1);
  ReadOptions strict;
  strict.strict = true;  // the writer's output needs none of the reader's leniency
  Score r = parse(bytes.data(), bytes.size(), "written", strict);
  INFO(first_difference(s, r));
  CHECK(first_difference(s, r).empty());
  CHECK(r == s);
  CHECK(r.warnings.empty());
  CHECK(r.tracks[0].channel == 0);
  CHECK(r.tracks[0].program == 73);
  CHECK(r.tracks[1].is_drum());
  CHECK(r.duration() == Approx(0.5 * 2 + 0.4 * 2 + 0.75 * (2000 - 1920) / 480.0));
}

TEST_CASE("midi writer: tempo in track 0, End of Track everywhere, full status bytes", "[midi]") {
  Score s = sample_score();
  std::vector<uint8_t> bytes = serialize(s, 1);
  MidiFile raw = parse_smf(bytes.data(), bytes.size());
  REQUIRE(raw.tracks.size() == 2);
  auto count_meta = [](const RawTrack& t, uint8_t type) {
    return std::count_if(t.events.begin(), t.events.end(), [type](const Event& e) {
      return e.status == kMeta && e.meta_type == type;
    });
  };
  CHECK(count_meta(raw.tracks[0], kMetaTempo) == 3);
  CHECK(count_meta(raw.tracks[0], kMetaTimeSignature) == 2);
  CHECK(count_meta(raw.tracks[1], kMetaTempo) == 0);
  // Walk the chunks: each MTrk must end with FF 2F 00, and after every meta
  // or sysex event the next event must start with a status byte.
  size_t pos = 14;
  int tracks = 0;
  while (pos + 8 <= bytes.size()) {
    REQUIRE(std::string(bytes.begin() + pos, bytes.begin() + pos + 4) == "MTrk");
    size_t len = (size_t(bytes[pos + 4]) << 24) | (size_t(bytes[pos + 5]) << 16) |
                 (size_t(bytes[pos + 6]) << 8) | bytes[pos + 7];
    size_t end = pos + 8 + len;
    REQUIRE(end <= bytes.size());
    CHECK(bytes[end - 3] == 0xFF);
    CHECK(bytes[end - 2] == 0x2F);
    CHECK(bytes[end - 1] == 0x00);
    size_t p = pos + 8;
    while (p < end) {
      while (bytes[p] & 0x80) ++p;  // delta time
      ++p;
      REQUIRE(p < end);
      uint8_t status = bytes[p];
      CHECK((status & 0x80) != 0);  // never running status
      if (status == 0xFF) {
        p += 2;
        size_t n = 0;
        while (bytes[p] & 0x80) n = (n << 7) | (bytes[p++] & 0x7F);
        n = (n << 7) | bytes[p++];
        p += n;
      } else {
        int kind = status & 0xF0;
        p += 1 + (kind == 0xC0 || kind == 0xD0 ? 1 : 2);
      }
    }
    CHECK(p == end);
    ++tracks;
    pos = end;
  }
  CHECK(tracks == 2);
  CHECK(pos == bytes.size());
}

TEST_CASE("midi writer: note-offs come before note-ons on the same tick", "[midi]") {
  Score s;
  s.ticks_per_quarter = 96;
  Track t = make_track("x", 0, 0);
  t.notes = {note(60, 0, 96), note(60, 96, 192), note(61, 96, 96)};
  t.end_tick = 192;
  s.tracks = {t};
  s.update_times();
  std::vector<uint8_t> bytes = serialize(s, 0);
  MidiFile raw = parse_smf(bytes.data(), bytes.size());
  std::vector<std::tuple<int64_t, int, int>> at96;  // (tick, kind, pitch) of note events at 96
  for (const Event& e : raw.tracks[0].events) {
    if (e.is_channel() && e.tick == 96 && (e.kind() == kNoteOn || e.kind() == kNoteOff)) {
      at96.emplace_back(e.tick, e.kind(), e.data1);
    }
  }
  // Off of the note that ended, the ons, then the off of the zero-length note.
  std::vector<std::tuple<int64_t, int, int>> expected = {
      {96, kNoteOff, 60}, {96, kNoteOn, 60}, {96, kNoteOn, 61}, {96, kNoteOff, 61}};
  CHECK(at96 == expected);
  CHECK(to_score(raw) == s);
}

TEST_CASE("midi writer: format 0 merges tracks and keeps every note and channel", "[midi]") {
  Score s = sample_score();
  std::vector<uint8_t> bytes = serialize(s, 0);
  Score r = parse(bytes.data(), bytes.size());
  CHECK(r.format == 0);
  REQUIRE(r.tracks.size() == 1);
  CHECK(r.note_count() == s.note_count());
  CHECK(r.tempos == s.tempos);
  Score split = split_by_channel(r);
  CHECK(split.tracks.size() == 3);  // channels 0, 3 and 9
  CHECK(r.duration() == Approx(s.duration()));
}

TEST_CASE("midi writer: refuses what a MIDI file cannot hold", "[midi]") {
  Score s = sample_score();
  SECTION("pitch 128") {
    s.tracks[0].notes[0].pitch = 128;
    CHECK_THROWS_WITH(serialize(s), Catch::Contains("pitch 128"));
  }
  SECTION("velocity 0") {
    s.tracks[0].notes[0].velocity = 0;
    CHECK_THROWS_WITH(serialize(s), Catch::Contains("velocity 0"));
  }
  SECTION("a note that ends before it starts") {
    s.tracks[0].notes[0].end_tick = -5;
    CHECK_THROWS_AS(serialize(s), Error);
  }
  SECTION("channel 16") {
    s.tracks[0].controls[0].channel = 16;
    CHECK_THROWS_WITH(serialize(s), Catch::Contains("channel 16"));
  }
  SECTION("format 2") {
    CHECK_THROWS_WITH(serialize(s, 2), Catch::Contains("format must be 0 or 1"));
  }
  SECTION("a time signature of 4/5") {
    s.time_signatures[0].denominator = 5;
    CHECK_THROWS_WITH(serialize(s), Catch::Contains("4/5"));
  }
  SECTION("a gap of 2^28 ticks") {
    s.tracks[0].notes.back().end_tick = int64_t(1) << 29;
    CHECK_THROWS_WITH(serialize(s), Catch::Contains("2^28"));
  }
}

TEST_CASE("midi writer: the raw layer round-trips sysex and unknown meta events", "[midi]") {
  Bytes ev = cat({{0x00, 0xF0, 0x03, 0x7E, 0x09, 0xF7},
                  {0x00, 0xFF, 0x7F, 0x03, 0x00, 0x00, 0x41},  // sequencer-specific
                  {0x00, 0xFF, 0x21, 0x01, 0x00},              // port
                  {0x05, 0xC0, 0x05, 0x00, 0x90, 0x3C, 0x40, 0x10, 0x3C, 0x00},
                  {0x00, 0xF7, 0x01, 0x42},
                  {0x20, 0xFF, 0x2F, 0x00}});
  Bytes file = cat({header(0, 1, 192), track(ev)});
  MidiFile a = parse_smf(file.data(), file.size());
  std::vector<uint8_t> out = serialize_smf(a);
  MidiFile b = parse_smf(out.data(), out.size());
  REQUIRE(b.tracks.size() == 1);
  CHECK(b.tracks[0].events == a.tracks[0].events);
  CHECK(b.tracks[0].end_tick == 53);
  CHECK(b.ticks_per_quarter == 192);
}

TEST_CASE("midi writer: write() and read() go through files atomically", "[midi]") {
  std::string dir = temp_dir("writer");
  Score s = sample_score();
  write(dir + "/a.mid", s, 1);
  CHECK(read(dir + "/a.mid") == s);
  CHECK_THROWS_WITH(write(dir + "/no/such/dir/a.mid", s),
                    Catch::Contains("cannot open for writing"));
}
