#pragma once
// MusicGAN's data: multi-track piano-roll segments of a few bars cut from a
// folder of MIDI files, in the layout of MuseGAN (Dong et al., AAAI 2018):
// [tracks, bars, steps_per_bar, pitches] of 0/1.
//
// Bars come from each score's time-signature map, counted from tick 0; a bar
// of numerator/denominator lasts numerator * 4 / denominator quarter notes and
// is divided into steps_per_bar steps. A time signature that falls inside a
// bar cuts that bar short; such a bar belongs to no meter. Only segments whose
// every bar is a whole bar of the chosen meter are kept, so a bar of the roll
// is always a bar of the music.
//
// Tracks, by `MultitrackOptions::tracks`:
//  - "program": MuseGAN's five LPD-5 families, as its merge step assigns them
//    from General MIDI: channel 9 -> Drums; programs 0-7 (pianos) -> Piano;
//    24-31 (guitars) -> Guitar; 32-39 (basses) -> Bass; every other program
//    (chromatic percussion, organ, strings, ensemble, brass, reed, pipe,
//    synths, ethnic, percussive, effects) -> Strings. Tracks of one family are
//    merged (a step sounds when it sounds in any of them).
//  - "order": the first N tracks that hold notes, in file order (SATB
//    chorales: Soprano, Alto, Tenor, Bass). N is the first usable file's
//    count; a file with fewer is dropped ("too few tracks"), extra tracks of a
//    longer file are left out.
//  - "auto": "order" when every usable file has the same number of tracks
//    with notes, at most 8; "program" otherwise.
// Each file's tracks are first split by channel (midi::split_by_channel), so a
// format-0 file gives one track per instrument.
//
// Held-out files are chosen by a hash of the path relative to the folder
// (midi::split_for), never by segment, so no held-out bar was seen in training.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "midi/score.h"

namespace cadenza::models {

struct MultitrackOptions {
  int64_t bars = 4;            // bars per segment
  int64_t steps_per_bar = 48;  // time steps per bar (MuseGAN's AAAI paper used 96)
  int lowest_pitch = 24;       // C1
  int64_t pitches = 84;        // C1..B7
  int meter_numerator = 4, meter_denominator = 4;  // only segments wholly in this meter are kept
  std::string tracks = "auto";                     // "program", "order" or "auto" (see above)
  int64_t hop_bars = 1;                            // a segment starts every hop_bars bars
  double valid_fraction = 0.1;                     // held-out files, by a hash of the relative path
};

// What loading kept and dropped. Files are dropped for one reason each;
// segments of kept files are counted by why they were left out.
struct MultitrackSummary {
  std::string root;
  std::string mode;  // the track mode used: "program" or "order"
  int64_t files_found = 0, files_used = 0;
  std::map<std::string, int64_t>
      files_dropped;  // reason -> files: unreadable, meter, too short, empty, too few tracks
  std::map<std::string, int64_t>
      segments_dropped;  // reason -> segments of used files: meter, empty
  std::vector<std::pair<std::string, std::string>>
      unreadable;  // (relative path, reader's message), the first few
  int64_t train_files = 0, valid_files = 0;
  int64_t train_segments = 0, valid_segments = 0;
  int64_t notes = 0;               // notes placed in the rolls of used files
  int64_t notes_out_of_range = 0;  // notes of used files outside the pitch range (dropped)
  int64_t tracks_left_out = 0;     // order mode: tracks beyond N in files with more
  std::vector<std::string> track_names;
  std::string str() const;  // one paragraph
};

class MultitrackCorpus {
 public:
  std::vector<std::string>
      track_names;  // {"Drums","Piano","Guitar","Bass","Strings"} or the first file's names
  std::vector<int> programs;  // General MIDI program per track
  std::vector<bool> is_drum;
  int us_per_quarter = 500000;  // the median first tempo of the used files
  MultitrackOptions options;

  int64_t tracks() const { return static_cast<int64_t>(track_names.size()); }
  int64_t train_size() const { return static_cast<int64_t>(train_.size()); }  // segments
  int64_t valid_size() const { return static_cast<int64_t>(valid_.size()); }
  // Segments `indices` of a split -> f32 [n, tracks, bars, steps_per_bar, pitches] of 0/1.
  // Error naming the index and the split's size when one is out of range.
  Tensor batch(bool valid, const std::vector<int64_t>& indices) const;
  // Every segment of a split (for the metrics) -> f32 [size, tracks, bars, steps_per_bar, pitches].
  Tensor all(bool valid) const;
  // The relative path and first bar of a segment (for messages and tests).
  std::pair<std::string, int64_t> segment_source(bool valid, int64_t index) const;

 private:
  struct File {
    std::string path;           // relative to the root
    int64_t bars = 0;           // total bars of the roll
    std::vector<uint8_t> roll;  // [tracks, bars, steps_per_bar, pitches]
  };
  struct Segment {
    int32_t file = 0;
    int32_t first_bar = 0;
  };
  std::vector<File> files_;
  std::vector<Segment> train_, valid_;
  friend MultitrackCorpus load_multitrack_corpus(const std::string&, const MultitrackOptions&,
                                                 MultitrackSummary*);
};

// Reads a folder of .mid/.midi files (recursively) or one MIDI file.
// Throws cadenza::Error naming the folder when nothing is usable (with the
// summary's reasons), and OptionError naming the option for a bad option.
MultitrackCorpus load_multitrack_corpus(const std::string& dir_or_file, const MultitrackOptions& o,
                                        MultitrackSummary* summary = nullptr);

// Where MusicGAN's default corpus lives: $CADENZA_DATA/bach-chorales when
// CADENZA_DATA is set, else the cadenza cache ($XDG_CACHE_HOME/cadenza or
// ~/.cache/cadenza) + /bach-chorales. scripts/prepare_bach_chorales.sh fills it.
std::string default_chorale_dir();

// What a roll needs to become MIDI again.
struct MultitrackMeta {
  std::vector<std::string> track_names;
  std::vector<int> programs;
  std::vector<bool> is_drum;
  int us_per_quarter = 500000;
  int lowest_pitch = 24;
  int meter_numerator = 4, meter_denominator = 4;
};
MultitrackMeta multitrack_meta(const MultitrackCorpus& corpus);

// roll [tracks, bars, steps_per_bar, pitches] (values in [0, 1]) -> a score
// with one track per roll track (its name and program; drums on channel 9,
// the others on 0, 1, 2, ... skipping 9), the tempo and the time signature. A
// step sounds when it is above `threshold`; a run of sounding steps is one
// note, across bar lines. Error when the roll's track count or pitch range
// does not fit the metadata.
midi::Score multitrack_to_score(const Tensor& roll, const MultitrackMeta& meta,
                                float threshold = 0.5f, int ticks_per_quarter = 480);
// The same with the metadata of the corpus the roll imitates.
midi::Score multitrack_to_score(const Tensor& roll, const MultitrackCorpus& like,
                                float threshold = 0.5f);

}  // namespace cadenza::models
