#pragma once
// MIDI datasets: every .mid/.midi file under a directory (recursive), turned
// into token sequences or piano rolls, split into train / validation / test by
// file from a hash of the path relative to the root (so the split does not
// depend on the machine, the directory order or the other files), with
// transposition augmentation for the training split. Nothing is dropped
// silently: DatasetSummary counts every dropped file or example by reason.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "midi/pianoroll.h"
#include "midi/tokens.h"

namespace cadenza::midi {

enum class Split { kTrain = 0, kValid = 1, kTest = 2 };
const char* split_name(Split s);  // "train", "valid", "test"

enum class Representation { kPerformance, kMelody, kPianoRoll };

struct DatasetOptions {
  Representation representation = Representation::kPerformance;
  double valid_fraction = 0.1, test_fraction = 0.1;
  // Semitone shifts added to the training split (0 is always kept); a shift
  // that would move a note out of 0..127 is dropped for that file and counted.
  std::vector<int> transpositions;
  int64_t min_notes = 1;  // files with fewer notes are dropped
  performance::EncodeOptions performance;
  melody::Options melody;
  RollOptions roll;
  bool split_channels = true;  // piano rolls: one row per (track, channel)
};

struct Example {
  std::string path;  // relative to the dataset root
  Split split = Split::kTrain;
  int transpose = 0;
  std::vector<int32_t> tokens;  // performance / melody
  PianoRoll roll;               // piano roll representation
  int64_t notes = 0;
};

struct DatasetSummary {
  int64_t files_found = 0, files_kept = 0;
  int64_t notes_kept = 0;                  // in untransposed examples
  int64_t examples[3] = {0, 0, 0};         // by Split
  int64_t tokens_or_steps = 0;             // total tokens (or roll steps) over all examples
  std::map<std::string, int64_t> dropped;  // reason -> count (files or examples)
  std::vector<std::pair<std::string, std::string>> dropped_files;  // (path, reason)
  std::string to_string() const;                                   // a few human-readable lines
};

// Which split a relative path falls in (FNV-1a of the path, as a fraction).
Split split_for(const std::string& relative_path, double valid_fraction, double test_fraction);

// Every .mid / .midi (case-insensitive) under root, sorted, relative to root.
// midi::Error when root is not a directory.
std::vector<std::string> find_midi_files(const std::string& root);

class MidiDataset {
 public:
  // Reads and converts every file. midi::Error when root holds no MIDI file at
  // all or when every file is dropped (the summary is in the message).
  static MidiDataset load(const std::string& root, const DatasetOptions& options = {});

  const std::vector<Example>& examples() const { return examples_; }
  std::vector<const Example*> split(Split s) const;
  const DatasetSummary& summary() const { return summary_; }

 private:
  std::vector<Example> examples_;
  DatasetSummary summary_;
};

}  // namespace cadenza::midi
