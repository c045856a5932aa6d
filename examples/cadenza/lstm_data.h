#pragma once
// Token data for the LSTM tools: MIDI files and directories -> token
// sequences with the same tokenisation as `cadenza midi tokens`.
#include <string>
#include <vector>

#include "midi/dataset.h"
#include "models/token_trainer.h"

namespace cadenza::cli {

struct TokenData {
  std::vector<models::TokenSeq> train, valid, test;
  std::vector<std::string> train_names, valid_names, test_names;
  int64_t vocab_size = 0;
  std::string report;  // what was kept and dropped, for the user
};

// vocab: "performance" or "melody". Directories are read recursively and
// split by a hash of the path; single files are split the same way.
TokenData load_token_data(const std::vector<std::string>& paths, const std::string& vocab);

// Every file of `paths` as one piece (no split), for evaluation.
TokenData load_token_files(const std::vector<std::string>& paths, const std::string& vocab);

// Tokens of one score in `vocab`.
models::TokenSeq tokenize(const midi::Score& score, const std::string& vocab);
midi::Score detokenize(const models::TokenSeq& tokens, const std::string& vocab);
int64_t vocab_size_of(const std::string& vocab);

// Shifts the pitch tokens of a performance sequence; empty if a note would
// leave 0..127 (the piece is then used untransposed).
models::TokenSeq transpose_performance(const models::TokenSeq& tokens, int semitones);

// --data may be repeated and may hold comma-separated lists.
std::vector<std::string> split_paths(const std::vector<std::string>& values);

}  // namespace cadenza::cli
