#pragma once
// The token data pipeline of the sequence model: MIDI files and directories
// -> token sequences (the tokenisation of `cadenza midi tokens`), split into
// train / valid / test by a hash of each file's path, with a report of what
// was kept and dropped. Beside models/poly_data.h, so a program that links
// libcadenza can train without the command line.
#include <string>
#include <vector>

#include "midi/dataset.h"
#include "models/token_trainer.h"

namespace cadenza::models {

struct TokenData {
  std::vector<TokenSeq> train, valid, test;
  std::vector<std::string> train_names, valid_names, test_names;
  int64_t vocab_size = 0;
  std::string report;  // what was kept and dropped, for the user
};

// vocab: "performance" or "melody" (else OptionError "vocab"). Directories are
// read recursively and split by a hash of the path; single files are split
// the same way. When no file hashes into the validation split, the last
// training piece is moved there (and the report says so).
TokenData load_token_data(const std::vector<std::string>& paths, const std::string& vocab);

// Every file of `paths` as one piece (no split), for evaluation.
TokenData load_token_files(const std::vector<std::string>& paths, const std::string& vocab);

// Tokens of one score in `vocab`.
TokenSeq tokenize(const midi::Score& score, const std::string& vocab);
midi::Score detokenize(const TokenSeq& tokens, const std::string& vocab);
int64_t vocab_size_of(const std::string& vocab);

// Shifts the pitch tokens of a performance sequence; empty if a note would
// leave 0..127 (the piece is then used untransposed).
TokenSeq transpose_performance(const TokenSeq& tokens, int semitones);

// The MIDI corpora of Debian's openttd-openmsx and planetblupi-music-midi:
// the data a token run uses when given none.
std::vector<std::string> default_token_corpus();

}  // namespace cadenza::models
