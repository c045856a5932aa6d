#pragma once
// Piano rolls: [tracks, steps, 128] float arrays on a grid of steps per beat
// (24 for MuseGAN-style rolls, 4 for melodies) or of fixed seconds per step.
// Plain std::vector here; midi/pianoroll_tensor.h converts to Tensor.
#include <cstdint>
#include <string>
#include <vector>

#include "midi/score.h"

namespace cadenza::midi {

enum class RollKind {
  kBinary,    // 1 while a note sounds
  kVelocity,  // velocity / 127 while a note sounds
  kOnset,     // 1 on the first step of a note only
};

struct RollOptions {
  RollKind kind = RollKind::kBinary;
  double steps_per_beat = 24;   // used when seconds_per_step == 0
  double seconds_per_step = 0;  // > 0: a time grid instead of a beat grid
  bool include_drums = true;
  // Refuse rolls longer than this many steps rather than allocate without
  // bound (a hostile file can claim hours of silence).
  int64_t max_steps = 10'000'000;
};

struct PianoRoll {
  int64_t tracks = 0, steps = 0;
  std::vector<float> data;  // [tracks, steps, 128], row-major
  RollKind kind = RollKind::kBinary;
  double steps_per_beat = 0;  // the grid it was made on (one of the two is 0)
  double seconds_per_step = 0;
  // Per track, for the way back to MIDI.
  std::vector<std::string> names;
  std::vector<int> programs, channels;
  int us_per_quarter = 500000;  // first tempo of the source score

  float& at(int64_t track, int64_t step, int pitch) {
    return data[static_cast<size_t>((track * steps + step) * 128 + pitch)];
  }
  float at(int64_t track, int64_t step, int pitch) const {
    return data[static_cast<size_t>((track * steps + step) * 128 + pitch)];
  }
};

// score -> roll: [tracks, steps, 128]. Steps = the score's end rounded to the
// grid; a note covers [round(start), round(end)) and at least one step. Drum
// tracks (channel 9) become all-zero rows when include_drums is false, so that
// track indices keep their meaning. midi::Error for an SMPTE score on a beat
// grid, a bad grid, or more than max_steps steps.
PianoRoll to_pianoroll(const Score& score, const RollOptions& options = {});

struct FromRollOptions {
  float threshold = 0.5f;  // binary and onset rolls: a step sounds above this
  int velocity = 100;      // binary and onset rolls (velocity rolls carry their own)
  int ticks_per_quarter = 480;
  // Onset rolls hold no lengths: each note lasts this many steps.
  int64_t onset_length = 1;
};

// roll -> score: one track per roll track (with its name, program and
// channel). A note is a run of sounding steps; in velocity rolls a change of
// velocity starts a new note. Time-grid rolls are written at the roll's tempo.
// roll: [tracks, steps, 128] -> Score
Score from_pianoroll(const PianoRoll& roll, const FromRollOptions& options = {});

}  // namespace cadenza::midi
