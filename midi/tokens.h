#pragma once
// Event vocabularies for sequence models, after Magenta's Performance RNN and
// Melody RNN. Tokens are plain int32 ids so that they can go straight into an
// embedding table (or a .npy file).
#include <cstdint>
#include <string>
#include <vector>

#include "midi/score.h"

namespace cadenza::midi {

// ------------------------------------------------------------ performance ----
// 388 tokens: NOTE_ON(128) | NOTE_OFF(128) | TIME_SHIFT(100 x 10 ms) | VELOCITY(32).
// Ids: NOTE_ON p = p, NOTE_OFF p = 128 + p, TIME_SHIFT of s steps (1..100) =
// 256 + s - 1, VELOCITY bin b (1..32) = 356 + b - 1. Velocity bins are
// Magenta's: bin = (v - 1) / 4 + 1, back to velocity 1 + 4 (bin - 1).
namespace performance {

constexpr int kNoteOn = 0, kNoteOff = 128, kTimeShift = 256, kVelocity = 356;
constexpr int kVocabSize = 388;
constexpr int kMaxShiftSteps = 100, kVelocityBins = 32;
constexpr double kStepSeconds = 0.01;

int velocity_to_bin(int velocity);  // 1..127 -> 1..32
int bin_to_velocity(int bin);       // 1..32 -> 1, 5, ..., 125

struct EncodeOptions {
  bool include_drums = false;  // Performance RNN models pitched instruments only
  int64_t max_tokens = 0;      // > 0: stop (at an event boundary) before exceeding it
};

// score -> token ids. All tracks are merged; times are rounded to the 10 ms
// grid and a note keeps at least one step. At one step: note-offs, then
// note-ons by pitch, each note-on preceded by a VELOCITY token when its bin
// differs from the last one emitted.
std::vector<int32_t> encode(const Score& score, const EncodeOptions& options = {});

// Notes of one pitch that overlap (from two tracks, say) are re-paired first-
// in-first-out on decoding: their note-on and note-off events survive, not
// necessarily which off ended which on.
//
// token ids -> score with one track (program 0, channel 0, 120 bpm, 500 ticks
// per quarter, so one tick is 1 ms). Overlapping notes of one pitch close
// first-in-first-out, as in the reader; notes still on at the end end there
// (at least one step long). midi::Error names the position of an id outside
// 0..387.
Score decode(const std::vector<int32_t>& tokens);

// "NOTE_ON 60", "TIME_SHIFT 250ms", "VELOCITY 20", ...
std::string token_name(int32_t id);

}  // namespace performance

// ----------------------------------------------------------------- melody ----
// Monophonic melody on a grid of sixteenth notes (steps_per_quarter = 4).
// Events: NO_EVENT (-2), NOTE_OFF (-1), or a pitch (>= 0) that starts a note,
// which sounds until the next pitch or NOTE_OFF. Tokens, as Magenta's
// MelodyOneHotEncoding: NO_EVENT = 0, NOTE_OFF = 1, pitch p = 2 + p - min_pitch.
namespace melody {

constexpr int kNoEvent = -2, kNoteOffEvent = -1;

enum class Policy { kHighest, kLowest };

struct Options {
  int min_pitch = 48;  // inclusive (Magenta's default range C3..C6)
  int max_pitch = 84;  // exclusive
  int steps_per_quarter = 4;
  Policy policy = Policy::kHighest;  // which note of a chord becomes the melody
  int track = -1;                    // -1: every non-drum track, else that track only
  // Notes outside [min_pitch, max_pitch) are moved by octaves into range, as
  // Magenta's squash does; false makes extract() throw midi::Error instead.
  bool fold_octaves = true;
  int64_t max_steps = 1'000'000;  // longer scores raise midi::Error
};

int vocab_size(const Options& options);  // 2 + max_pitch - min_pitch

// score -> one event per step. A note starting at a step wins when it beats
// (by the policy) the melody note still sounding; a sounding melody note ends
// with NOTE_OFF at its end step unless another starts there. midi::Error for
// SMPTE-timed scores (no beats) and for scores beyond max_steps.
std::vector<int> extract(const Score& score, const Options& options = {});

std::vector<int32_t> events_to_tokens(const std::vector<int>& events, const Options& options = {});
std::vector<int> tokens_to_events(const std::vector<int32_t>& tokens, const Options& options = {});

// events -> one-track score (program 0, 120 bpm, 480 ticks per quarter).
Score to_score(const std::vector<int>& events, const Options& options = {}, int velocity = 100);

std::string token_name(int32_t id, const Options& options = {});

}  // namespace melody

}  // namespace cadenza::midi
