// Every file of the packaged corpora (Debian openttd-openmsx and
// planetblupi-music-midi): parses, and read -> write -> read gives the same
// score, in the file's own format and through format 0.
#include <algorithm>
#include <map>
#include <tuple>

#include "midi/score.h"
#include "midi_test_util.h"

using namespace cadenza::midi;

namespace {

// Note-on events (channel, pitch, velocity, tick) and note-off events
// (channel, pitch, tick) apart: format 0 cannot keep two tracks' overlapping
// notes of one channel and pitch paired as they were, only their events.
std::pair<std::vector<std::tuple<int, int, int, int64_t>>,
          std::vector<std::tuple<int, int, int64_t>>>
events_of(const Score& s) {
  std::vector<std::tuple<int, int, int, int64_t>> ons;
  std::vector<std::tuple<int, int, int64_t>> offs;
  for (const Track& t : s.tracks) {
    for (const Note& n : t.notes) {
      ons.emplace_back(n.channel, n.pitch, n.velocity, n.start_tick);
      offs.emplace_back(n.channel, n.pitch, n.end_tick);
    }
  }
  std::sort(ons.begin(), ons.end());
  std::sort(offs.begin(), offs.end());
  return {ons, offs};
}

}  // namespace

TEST_CASE("midi corpus: every packaged file round-trips through write and read", "[midi][corpus]") {
  std::vector<std::string> files = midi_test::corpus_files();
  CHECK(files.size() >= 40);  // 31 openmsx songs + 10 planetblupi songs in Debian 12
  int64_t total_notes = 0;
  for (const std::string& path : files) {
    INFO(path);
    Score s = read(path);
    CHECK(s.note_count() > 0);
    CHECK(s.duration() > 10.0);
    total_notes += s.note_count();
    int format = s.format == 0 && s.tracks.size() == 1 ? 0 : 1;
    std::vector<uint8_t> bytes = serialize(s, format);
    ReadOptions strict;
    strict.strict = true;
    Score again = parse(bytes.data(), bytes.size(), path + " (rewritten)", strict);
    INFO(first_difference(s, again));
    CHECK(first_difference(s, again).empty());
    // And a second write is byte-identical: the writer is deterministic.
    CHECK(serialize(again, format) == bytes);

    // Through format 0: one track, the same notes, maps and duration.
    std::vector<uint8_t> merged = serialize(s, 0);
    Score zero = parse(merged.data(), merged.size());
    CHECK(zero.tracks.size() == 1);
    CHECK(events_of(zero) == events_of(s));
    CHECK(zero.tempos == s.tempos);
    CHECK(zero.duration() == Approx(s.duration()).epsilon(1e-12));
  }
  CHECK(total_notes > 100000);
}

TEST_CASE("midi corpus: transposition and quantization keep the notes", "[midi][corpus]") {
  for (const std::string& path : midi_test::corpus_files()) {
    INFO(path);
    Score s = read(path);
    if (can_transpose(s, 2)) {
      Score up = transposed(s, 2);
      CHECK(up.note_count() == s.note_count());
      CHECK(transposed(up, -2) == s);
    }
    CHECK_THROWS_AS(transposed(s, 200), Error);
    Score q = quantized(s, 4);
    CHECK(q.note_count() == s.note_count());
    int64_t grid = s.ticks_per_quarter / 4;
    if (s.ticks_per_quarter % 4 == 0) {
      for (const Track& t : q.tracks) {
        for (const Note& n : t.notes) {
          CHECK(n.start_tick % grid == 0);
          CHECK(n.end_tick > n.start_tick);
        }
      }
    }
    std::vector<uint8_t> bytes = serialize(q);
    CHECK(parse(bytes.data(), bytes.size()) == q);
  }
}
