#pragma once
// The cadenza subcommands. Each returns the process exit code and throws
// cli::UsageError for a bad command line (main prints it and exits 2).
#include <string>

namespace cadenza::cli {

int cmd_bench(int argc, char** argv);  // cadenza bench NAME [--json]
int cmd_midi(int argc, char** argv);   // cadenza midi info|convert|tokens|render|roll
int cmd_audio(int argc, char** argv);  // cadenza audio info|convert|features|spectrogram
int cmd_train(int argc, char** argv);  // cadenza train lstm ...
int cmd_sample(int argc, char** argv); // cadenza sample lstm ...
int cmd_eval(int argc, char** argv);   // cadenza eval lstm ...

class Args;
// cadenza train|sample|eval poly ... (verb is "train", "sample" or "eval").
int run_poly(const std::string& verb, const Args& a);

}  // namespace cadenza::cli
