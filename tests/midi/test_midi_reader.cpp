// The SMF reader on hand-made files: what it must accept (running status,
// velocity-0 note-offs, sysex, unknown chunks, SMPTE time) and the exact
// ParseError it must raise on broken files.
#include <cmath>

#include "midi/score.h"
#include "midi/smf.h"
#include "midi_test_util.h"

using namespace cadenza::midi;
using namespace midi_test;

namespace {

Score parse_bytes(const Bytes& b, const ReadOptions& o = {}) {
  return parse(b.data(), b.size(), "test.mid", o);
}

// Expects a ParseError at `offset` whose message contains `words`.
void expect_parse_error(const Bytes& b, int64_t offset, const std::string& words,
                        const ReadOptions& o = {}) {
  try {
    parse_smf(b.data(), b.size(), "broken.mid", o);
    FAIL("no ParseError for a file that should raise one at byte " << offset);
  } catch (const ParseError& e) {
    INFO(e.what());
    CHECK(e.source == "broken.mid");
    CHECK(e.offset == offset);
    CHECK(std::string(e.what()).find("broken.mid: byte " + std::to_string(offset) + ": ") == 0);
    CHECK(e.expected.find(words) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("midi reader: a format 0 file with running status and velocity-0 note-offs", "[midi]") {
  Bytes ev = cat({{0x00, 0xFF, 0x03, 0x04, 'l', 'e', 'a', 'd'},
                  {0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20},        // 500000 us = 120 bpm
                  {0x00, 0xFF, 0x58, 0x04, 0x03, 0x02, 0x18, 0x08},  // 3/4
                  {0x00, 0xFF, 0x59, 0x02, 0xFD, 0x01},              // 3 flats, minor: C minor
                  {0x00, 0xC2, 0x18},                                // program 24 on channel 2
                  {0x00, 0x92, 0x3C, 0x64},                          // C4 on
                  {0x60, 0x3C, 0x00},                                // running status, vel 0 = off
                  {0x00, 0x40, 0x50},                                // E4 on (running status)
                  {0x60, 0x82, 0x40, 0x00},                          // E4 off (note-off status)
                  {0x00, 0xB2, 0x07, 0x64},                          // volume
                  {0x00, 0xE2, 0x00, 0x60},                          // pitch bend
                  kEndOfTrack});
  Score s = parse_bytes(cat({header(0, 1, 96), track(ev)}));
  REQUIRE(s.format == 0);
  REQUIRE(s.ticks_per_quarter == 96);
  REQUIRE(s.tracks.size() == 1);
  const Track& t = s.tracks[0];
  CHECK(t.name == "lead");
  CHECK(t.program == 24);
  CHECK(t.channel == 2);
  REQUIRE(t.notes.size() == 2);
  CHECK(t.notes[0].pitch == 60);
  CHECK(t.notes[0].velocity == 100);
  CHECK(t.notes[0].start_tick == 0);
  CHECK(t.notes[0].end_tick == 96);
  CHECK(t.notes[0].end == Approx(0.5));
  CHECK(t.notes[1].pitch == 64);
  CHECK(t.notes[1].start_tick == 96);
  CHECK(t.notes[1].end_tick == 192);
  CHECK(t.notes[1].end == Approx(1.0));
  REQUIRE(t.controls.size() == 1);
  CHECK(t.controls[0].controller == 7);
  CHECK(t.controls[0].value == 100);
  REQUIRE(t.bends.size() == 1);
  CHECK(t.bends[0].value == (0x60 << 7) - 8192);
  REQUIRE(s.time_signatures.size() == 1);
  CHECK(s.time_signatures[0].numerator == 3);
  CHECK(s.time_signatures[0].denominator == 4);
  REQUIRE(s.key_signatures.size() == 1);
  CHECK(s.key_signatures[0].name() == "C minor");
  CHECK(s.duration() == Approx(1.0));
  CHECK(s.warnings.empty());
}

TEST_CASE("midi reader: seconds follow a piecewise tempo map", "[midi]") {
  // 480 ticks per quarter; 120 bpm, then 60 bpm from tick 960, then 240 bpm from 1440.
  Bytes conductor = cat({{0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20},
                         {0x87, 0x40, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40},  // +960
                         {0x83, 0x60, 0xFF, 0x51, 0x03, 0x03, 0xD0, 0x90},  // +480
                         kEndOfTrack});
  Bytes notes = cat({{0x00, 0x90, 0x45, 0x40},
                     {0x8B, 0x20, 0x80, 0x45, 0x00},  // +1440: ends where 240 bpm starts
                     {0x00, 0x90, 0x46, 0x40},
                     {0x83, 0x60, 0x80, 0x46, 0x00},  // +480 at 240 bpm = 0.25 s
                     kEndOfTrack});
  Score s = parse_bytes(cat({header(1, 2, 480), track(conductor), track(notes)}));
  REQUIRE(s.tempos.size() == 3);
  CHECK(s.tempos[1].time == Approx(1.0));
  CHECK(s.tempos[2].time == Approx(2.0));  // 480 ticks at 60 bpm = 1 s
  const auto& n = s.tracks[1].notes;
  REQUIRE(n.size() == 2);
  CHECK(n[0].end == Approx(2.0));
  CHECK(n[1].start == Approx(2.0));
  CHECK(n[1].end == Approx(2.25));
  TempoMap map = s.tempo_map();
  for (int64_t tick : {0, 1, 480, 959, 960, 1000, 1440, 1441, 5000})
    CHECK(map.tick(map.seconds(tick)) == tick);
  CHECK(s.tracks[0].end_tick == 1440);
}

TEST_CASE("midi reader: running status survives meta and sysex events", "[midi]") {
  Bytes ev = cat({{0x00, 0x91, 0x30, 0x40},
                  {0x10, 0xFF, 0x01, 0x02, 'h', 'i'},    // text meta
                  {0x00, 0x30, 0x00},                    // running status (note-on vel 0)
                  {0x00, 0xF0, 0x03, 0x7E, 0x09, 0xF7},  // sysex
                  {0x00, 0x32, 0x50},                    // running status again
                  {0x10, 0xF7, 0x02, 0x01, 0x02},        // sysex escape
                  {0x00, 0x32, 0x00},
                  kEndOfTrack});
  MidiFile raw = parse_smf(cat({header(0, 1, 96), track(ev)}).data(),
                           cat({header(0, 1, 96), track(ev)}).size());
  REQUIRE(raw.tracks.size() == 1);
  const auto& e = raw.tracks[0].events;
  REQUIRE(e.size() == 7);
  CHECK(e[2].status == 0x91);
  CHECK(e[3].status == kSysex);
  CHECK(e[3].payload == Bytes{0x7E, 0x09, 0xF7});
  CHECK(e[5].status == kSysexEscape);
  CHECK(e[5].payload == Bytes{0x01, 0x02});
  Score s = to_score(raw);
  REQUIRE(s.tracks[0].notes.size() == 2);
  CHECK(s.tracks[0].notes[1].pitch == 0x32);
  CHECK(s.tracks[0].notes[1].end_tick == 32);
  REQUIRE(s.tracks[0].texts.size() == 1);
  CHECK(s.tracks[0].texts[0].text == "hi");
}

TEST_CASE("midi reader: overlapping notes of one pitch close first-in-first-out", "[midi]") {
  Bytes ev = cat({{0x00, 0x90, 0x40, 0x10},    // A on at 0 (vel 16)
                  {0x0A, 0x90, 0x40, 0x20},    // B on at 10 (vel 32)
                  {0x0A, 0x80, 0x40, 0x00},    // off at 20 ends A
                  {0x0A, 0x90, 0x40, 0x00},    // off at 30 ends B
                  {0x00, 0x80, 0x40, 0x00},    // stray off: dropped, counted
                  {0x00, 0x90, 0x41, 0x30},    // never ended: ends at End of Track
                  {0x28, 0xFF, 0x2F, 0x00}});  // End of Track at 70
  Score s = parse_bytes(cat({header(0, 1, 96), track(ev)}));
  const auto& n = s.tracks[0].notes;
  REQUIRE(n.size() == 3);
  CHECK((n[0].velocity == 16 && n[0].start_tick == 0 && n[0].end_tick == 20));
  CHECK((n[1].velocity == 32 && n[1].start_tick == 10 && n[1].end_tick == 30));
  CHECK((n[2].pitch == 0x41 && n[2].end_tick == 70));
  CHECK(s.warnings.size() == 2);
}

TEST_CASE("midi reader: unknown chunks are skipped, trailing junk tolerated, strict refuses",
          "[midi]") {
  Bytes ev = cat({{0x00, 0x90, 0x3C, 0x40, 0x60, 0x80, 0x3C, 0x00}, kEndOfTrack});
  Bytes file = cat({header(1, 1, 96),
                    {'X', 'F', 'I', 'H', 0, 0, 0, 2, 0xAA, 0xBB},
                    track(ev),
                    {0x00, 0x01, 0x02}});
  Score s = parse_bytes(file);
  REQUIRE(s.tracks.size() == 1);
  CHECK(s.tracks[0].notes.size() == 1);
  CHECK(s.warnings.size() == 2);  // the skipped chunk and the junk
  ReadOptions strict;
  strict.strict = true;
  expect_parse_error(file, static_cast<int64_t>(file.size()) - 3, "end of the file", strict);
}

TEST_CASE("midi reader: SMPTE division times notes in frames", "[midi]") {
  // -25 fps, 40 ticks per frame = 1000 ticks per second.
  Bytes ev = cat(
      {{0x83, 0x74, 0x99, 0x24, 0x70}, {0x83, 0x74, 0x89, 0x24, 0x00}, kEndOfTrack});  // 500, +500
  Score s = parse_bytes(cat({header(0, 1, 0xE728), track(ev)}));
  CHECK(s.ticks_per_quarter == 0);
  CHECK(s.smpte_fps == 25);
  CHECK(s.ticks_per_frame == 40);
  REQUIRE(s.tracks[0].notes.size() == 1);
  CHECK(s.tracks[0].notes[0].start == Approx(0.5));
  CHECK(s.tracks[0].notes[0].end == Approx(1.0));
  CHECK(s.tracks[0].is_drum());
  expect_parse_error(cat({header(0, 1, 0xE500), track(ev)}), 12, "SMPTE frame rate");  // -27 fps
}

TEST_CASE("midi reader: broken files raise ParseError with the byte offset", "[midi]") {
  Bytes good = cat({{0x00, 0x90, 0x3C, 0x40}, {0x60, 0x80, 0x3C, 0x00}, kEndOfTrack});
  SECTION("truncated header") {
    expect_parse_error(Bytes{'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 1}, 10, "14-byte MThd header");
  }
  SECTION("not a MIDI file") {
    expect_parse_error(Bytes(20, 'x'), 0, "MThd");
  }
  SECTION("header length past the end") {
    Bytes b = cat({{'M', 'T', 'h', 'd'}, be32(100), {0, 0, 0, 1, 0, 96}});
    expect_parse_error(b, 4, "header of 100 bytes");
  }
  SECTION("format 3") {
    expect_parse_error(cat({header(3, 1, 96), track(good)}), 8, "format 0, 1 or 2");
  }
  SECTION("chunk length past the end") {
    Bytes events = {0x00, 0x90, 0x3C, 0x40, 0x60, 0x80, 0x3C, 0x00};  // no End of Track
    Bytes b = cat({header(0, 1, 96), {'M', 'T', 'r', 'k'}, be32(100), events});
    expect_parse_error(b, static_cast<int64_t>(b.size()), "End of Track");
    ReadOptions strict;
    strict.strict = true;
    expect_parse_error(b, 18, "track of 100 bytes", strict);
  }
  SECTION("chunk length past the end is fine when End of Track comes first") {
    Bytes b = cat({header(0, 1, 96), {'M', 'T', 'r', 'k'}, be32(100), good});
    Score s = parse_bytes(b);
    CHECK(s.tracks[0].notes.size() == 1);
    CHECK(s.warnings.size() == 1);
  }
  SECTION("a 5-byte variable-length quantity") {
    Bytes b = cat({header(0, 1, 96),
                   track(cat({{0x81, 0x80, 0x80, 0x80, 0x00, 0x90, 0x3C, 0x40}, kEndOfTrack}))});
    expect_parse_error(b, 22, "at most 4 bytes");
  }
  SECTION("a meta length as a 5-byte quantity") {
    Bytes b = cat({header(0, 1, 96),
                   track(cat({{0x00, 0xFF, 0x01, 0x80, 0x80, 0x80, 0x80, 0x01}, kEndOfTrack}))});
    expect_parse_error(b, 25, "meta event length");
  }
  SECTION("missing End of Track") {
    Bytes b = cat({header(0, 1, 96), track({0x00, 0x90, 0x3C, 0x40, 0x60, 0x80, 0x3C, 0x00})});
    Score s = parse_bytes(b);  // tolerated by default: real files need it
    REQUIRE(s.tracks[0].notes.size() == 1);
    CHECK(s.tracks[0].end_tick == 96);
    REQUIRE(s.warnings.size() == 1);
    CHECK(s.warnings[0].find("no End of Track") != std::string::npos);
    ReadOptions strict;
    strict.strict = true;
    expect_parse_error(b, static_cast<int64_t>(b.size()), "End of Track", strict);
  }
  SECTION("a data byte > 127") {
    Bytes b = cat({header(0, 1, 96), track(cat({{0x00, 0x90, 0x3C, 0xC0}, kEndOfTrack}))});
    expect_parse_error(b, 25, "data byte < 0x80");
  }
  SECTION("running status with no earlier status") {
    Bytes b = cat({header(0, 1, 96), track(cat({{0x00, 0x3C, 0x40}, kEndOfTrack}))});
    expect_parse_error(b, 23, "no earlier status");
  }
  SECTION("running status does not survive a system common message") {
    Bytes b = cat(
        {header(0, 1, 96),
         track(cat({{0x00, 0x90, 0x3C, 0x40, 0x00, 0xF3, 0x01, 0x00, 0x3C, 0x00}, kEndOfTrack}))});
    expect_parse_error(b, 30, "no earlier status");
  }
  SECTION("zero tracks") {
    expect_parse_error(header(1, 0, 96), 10, "at least one track");
  }
  SECTION("division 0") {
    expect_parse_error(cat({header(0, 1, 0), track(good)}), 12, "division");
  }
  SECTION("an event cut off by the end of its chunk") {
    Bytes b = cat({header(0, 1, 96), track({0x00, 0x90, 0x3C})});
    expect_parse_error(b, 25, "second data byte");
  }
  SECTION("a sysex longer than its chunk") {
    Bytes b = cat({header(0, 1, 96), track({0x00, 0xF0, 0x7F, 0x01})});
    expect_parse_error(b, 25, "sysex data of 127 bytes");
  }
  SECTION("no track chunk at all") {
    expect_parse_error(header(0, 1, 96), 14, "expected 1 tracks, found 0");
  }
  SECTION("fewer tracks than declared is tolerated when one is present") {
    Score s = parse_bytes(cat({header(1, 3, 96), track(good)}));
    CHECK(s.tracks.size() == 1);
    CHECK(s.warnings.size() == 1);
  }
  SECTION("too many events") {
    ReadOptions few;
    few.max_events = 1;
    expect_parse_error(cat({header(0, 1, 96), track(good)}), 27, "max_events", few);
  }
}

TEST_CASE("midi reader: a missing file is a midi::Error naming it, not a ParseError", "[midi]") {
  try {
    read("/nonexistent/dir/song.mid");
    FAIL("read of a missing file returned");
  } catch (const ParseError&) {
    FAIL("a missing file is not a parse error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("/nonexistent/dir/song.mid") != std::string::npos);
  }
}

TEST_CASE("midi: variable-length quantities match the SMF specification table", "[midi]") {
  struct Case {
    uint32_t value;
    Bytes bytes;
  };
  for (const Case& c :
       {Case{0x00, {0x00}}, Case{0x40, {0x40}}, Case{0x7F, {0x7F}}, Case{0x80, {0x81, 0x00}},
        Case{0x2000, {0xC0, 0x00}}, Case{0x3FFF, {0xFF, 0x7F}}, Case{0x4000, {0x81, 0x80, 0x00}},
        Case{0x100000, {0xC0, 0x80, 0x00}}, Case{0x1FFFFF, {0xFF, 0xFF, 0x7F}},
        Case{0x200000, {0x81, 0x80, 0x80, 0x00}}, Case{0x0FFFFFFF, {0xFF, 0xFF, 0xFF, 0x7F}}}) {
    Bytes out;
    append_vlq(out, c.value);
    CHECK(out == c.bytes);
  }
  Bytes out;
  CHECK_THROWS_AS(append_vlq(out, 0x10000000), Error);
}
