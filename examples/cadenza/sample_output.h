#pragma once
// What every family's `cadenza sample` writes beside its MIDI file: a WAV
// through FluidSynth and a piano-roll PNG, from the same flags.
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "midi/score.h"

namespace cadenza::cli {

struct SampleOutputs {
  std::string checkpoint, out, wav, png, soundfont;
  int rate = 16000;
  int threads = 0;
  // Adds --checkpoint (of `family`), --out (described by out_help), --wav,
  // --png, --rate, --soundfont and --threads to `cmd`.
  void add(CLI::App& cmd, const std::string& family, const std::string& out_help);
  // Writes the PNG and WAV asked for of sample i of `count` (numbered when
  // count > 1) and adds their paths to `item`.
  void write(const midi::Score& score, int i, int count, nlohmann::json& item) const;
};

// x.mid -> x-3.mid for sample 2 of several; the path itself when count is 1.
std::string numbered(const std::string& path, int i, int count);

}  // namespace cadenza::cli
