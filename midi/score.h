#pragma once
// The score model: what the models, the tools and the renderer use of a MIDI
// file. Times are kept in ticks (exact; the writer's source of truth) and in
// seconds (derived from ticks through the piecewise tempo map).
//
// Reading (to_score):
//  - one Score track per MTrk chunk; each note and controller keeps its channel,
//    so a format-0 file is one track with many channels (split_by_channel);
//  - a note-on with velocity 0 is a note-off;
//  - overlapping notes of the same pitch on one channel close first-in-first-
//    out: a note-off ends the earliest still-sounding note of that pitch, as
//    Magenta's and pretty_midi's readers do;
//  - a note still sounding at the end of its track ends there; a note-off
//    with nothing to end is dropped (both counted in Score::warnings);
//  - tempo, time-signature and key-signature events of every track form one
//    global map each (format 2 files are timed with it too); at equal ticks
//    the later event wins. Track 0, where the writer puts these maps, is
//    taken to end no earlier than the last of them.
// Not kept: sysex, aftertouch, sequencer-specific and SMPTE-offset events.
#include <cstdint>
#include <string>
#include <vector>

#include "midi/smf.h"

namespace cadenza::midi {

struct Note {
  int pitch = 60;      // 0..127
  int velocity = 100;  // 1..127
  int channel = 0;     // 0..15; 9 is General MIDI percussion
  int64_t start_tick = 0, end_tick = 0;
  double start = 0.0, end = 0.0;  // seconds
  bool operator==(const Note& o) const;
};

struct ControlChange {
  int64_t tick = 0;
  double time = 0.0;
  int channel = 0, controller = 0, value = 0;
  bool operator==(const ControlChange& o) const;
};

struct PitchBend {
  int64_t tick = 0;
  double time = 0.0;
  int channel = 0;
  int value = 0;  // -8192..8191, 0 = centre
  bool operator==(const PitchBend& o) const;
};

struct ProgramChange {
  int64_t tick = 0;
  double time = 0.0;
  int channel = 0, program = 0;
  bool operator==(const ProgramChange& o) const;
};

// Text-like meta events (text, copyright, lyric, marker, cue point, and any
// track or instrument name after the first).
struct TextEvent {
  int64_t tick = 0;
  double time = 0.0;
  int type = kMetaText;
  std::string text;  // raw bytes of the file (often Latin-1)
  bool operator==(const TextEvent& o) const;
};

struct Track {
  std::string name;         // first track-name meta event
  std::string instrument;   // first instrument-name meta event
  int program = 0;          // first program change, 0 when there is none
  int channel = -1;         // channel of the first note (else first channel event), -1: none
  std::vector<Note> notes;  // sorted by (start_tick, pitch, channel, end_tick, velocity)
  std::vector<ControlChange> controls;
  std::vector<PitchBend> bends;
  std::vector<ProgramChange> programs;
  std::vector<TextEvent> texts;
  int64_t end_tick = 0;  // End of Track
  bool is_drum() const { return channel == 9; }
  bool operator==(const Track& o) const;
};

struct Tempo {
  int64_t tick = 0;
  double time = 0.0;
  int us_per_quarter = 500000;  // 120 bpm, the MIDI default
  double bpm() const { return 60e6 / us_per_quarter; }
  bool operator==(const Tempo& o) const;
};

struct TimeSignature {
  int64_t tick = 0;
  double time = 0.0;
  int numerator = 4, denominator = 4;  // denominator is a power of two
  int clocks_per_click = 24, notated_32nds = 8;
  bool operator==(const TimeSignature& o) const;
};

struct KeySignature {
  int64_t tick = 0;
  double time = 0.0;
  int sharps = 0;  // -7 (7 flats) .. 7 (7 sharps)
  bool minor = false;
  std::string name() const;  // "C major", "A minor", "Eb major", ...
  bool operator==(const KeySignature& o) const;
};

// Ticks <-> seconds through a piecewise-constant tempo (or a fixed SMPTE rate).
class TempoMap {
 public:
  TempoMap(int ticks_per_quarter, const std::vector<Tempo>& tempos);  // PPQ division
  explicit TempoMap(double smpte_ticks_per_second);
  double seconds(int64_t tick) const;
  // Nearest tick to `seconds` (>= 0).
  int64_t tick(double seconds) const;

 private:
  struct Segment {
    int64_t tick;
    double seconds;
    double seconds_per_tick;
  };
  std::vector<Segment> segments_;  // first one starts at tick 0
};

struct Score {
  int format = 1;
  int ticks_per_quarter = 480;  // 0 when the file used SMPTE division
  int smpte_fps = 0, ticks_per_frame = 0;
  std::vector<Track> tracks;
  std::vector<Tempo> tempos;  // sorted by tick, at most one per tick
  std::vector<TimeSignature> time_signatures;
  std::vector<KeySignature> key_signatures;
  std::vector<std::string> warnings;  // from the reader; not part of equality

  TempoMap tempo_map() const;
  int64_t end_tick() const;  // the latest End of Track or note end
  double duration() const;   // seconds at end_tick()
  int64_t note_count() const;
  // Recomputes every seconds field from the ticks (after editing ticks or tempos).
  void update_times();
  // The tempo in effect at tick 0 (the MIDI default when there is none).
  int us_per_quarter_at_start() const;
  bool operator==(const Score& o) const;  // everything but `warnings`
};

// Empty when a == b, else a sentence naming the first field that differs
// (for test failures and the round-trip check of `cadenza midi convert`).
std::string first_difference(const Score& a, const Score& b);

Score to_score(const MidiFile& file);
// format 0 merges every track into one; format 1 puts the tempo, time- and
// key-signature maps in track 0 (before that track's own events). At equal
// ticks a track writes: names, maps and texts, program changes, controllers
// and bends, note-offs, note-ons, then the note-offs of zero-length notes.
MidiFile to_smf(const Score& score, int format = 1);

Score parse(const uint8_t* data, size_t size, const std::string& source = "<memory>",
            const ReadOptions& options = {});
Score read(const std::string& path, const ReadOptions& options = {});
std::vector<uint8_t> serialize(const Score& score, int format = 1);
void write(const std::string& path, const Score& score, int format = 1);

// A new empty track that plays `program` on `channel` (adds the program change).
Track make_track(const std::string& name, int program, int channel);

// One track per (track, channel) pair that holds channel events, named
// "<name> ch<N>" when a track is split; tracks without channel events are
// dropped unless they are the only one. Used to give format-0 files one piano
// roll row per instrument.
Score split_by_channel(const Score& score);

// Every non-drum note moved by `semitones`; midi::Error if a pitch would leave 0..127.
Score transposed(const Score& score, int semitones);
bool can_transpose(const Score& score, int semitones);

// Snaps every tick to a grid of steps_per_beat steps per quarter note; a note
// keeps at least one step. midi::Error for SMPTE-timed scores.
Score quantized(const Score& score, int steps_per_beat);

}  // namespace cadenza::midi
