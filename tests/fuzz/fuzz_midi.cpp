// fuzz-sources: midi/smf_reader.cpp midi/smf_writer.cpp midi/score.cpp midi/score_io.cpp midi/tokens_performance.cpp midi/tokens_melody.cpp midi/pianoroll.cpp
// libFuzzer target for the MIDI reader: any input must either parse or raise
// midi::ParseError, and whatever parses must survive the score model, a write
// and a re-read unchanged, and the tokenizers and piano roll within bounds.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "midi/pianoroll.h"
#include "midi/score.h"
#include "midi/tokens.h"

using namespace cadenza::midi;

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_midi: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ReadOptions opts;
  opts.max_events = 1 << 20;
  MidiFile file;
  try {
    file = parse_smf(data, size, "fuzz", opts);
  } catch (const ParseError&) {
    return 0;  // the expected outcome for most inputs
  }
  Score score = to_score(file);
  // Write and re-read: must succeed (or refuse with midi::Error for gaps a
  // file cannot encode) and give back the same score.
  int format = score.format == 0 && score.tracks.size() == 1 ? 0 : 1;
  std::vector<uint8_t> bytes;
  try {
    bytes = serialize(score, format);
  } catch (const ParseError& e) {
    fail("serialize threw ParseError", e.what());
  } catch (const Error&) {
    bytes.clear();
  }
  if (!bytes.empty()) {
    Score again;
    try {
      again = parse(bytes.data(), bytes.size(), "rewritten");
    } catch (const Error& e) {
      fail("re-reading the written file failed", e.what());
    }
    std::string d = first_difference(score, again);
    if (!d.empty()) fail("round trip changed the score", d);
  }
  // Bounded work only: skip scores whose length would make big outputs.
  if (score.duration() < 600 && score.end_tick() < (int64_t(1) << 22)) {
    performance::EncodeOptions po;
    po.max_tokens = 1 << 16;
    auto tokens = performance::encode(score, po);
    for (int32_t t : tokens) {
      if (t < 0 || t >= performance::kVocabSize) fail("performance token out of range", std::to_string(t));
    }
    performance::decode(tokens);
    if (score.ticks_per_quarter > 0) {
      melody::Options mo;
      mo.max_steps = 1 << 16;
      try {
        auto events = melody::extract(score, mo);
        melody::events_to_tokens(events, mo);
      } catch (const ParseError& e) {
        fail("melody threw ParseError", e.what());
      } catch (const Error&) {
      }
    }
    RollOptions ro;
    ro.steps_per_beat = 4;
    ro.seconds_per_step = score.ticks_per_quarter > 0 ? 0 : 0.05;
    ro.max_steps = 1 << 14;
    try {
      PianoRoll roll = to_pianoroll(score, ro);
      from_pianoroll(roll);
    } catch (const ParseError& e) {
      fail("piano roll threw ParseError", e.what());
    } catch (const Error&) {
    }
  }
  return 0;
}
