#pragma once
// The cadenza subcommands, declared on one CLI11 application (main.cpp), so
// help, validation and subcommands come from one definition per flag.
#include <CLI/CLI.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/distributed.h"

namespace cadenza::cli {

// A bad command line found after parsing (a bad combination of values):
// main prints it with the command's --help hint and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Registers `cadenza midi ...` (resp. audio, bench) and its subcommands on
// `root`. Callbacks throw UsageError for bad usage and cadenza::Error /
// std::exception for failures (exit 1); they may ask for another exit code
// with set_exit_code().
void add_midi_command(CLI::App& root);
void add_audio_command(CLI::App& root);
void add_bench_command(CLI::App& root);
void set_exit_code(int code);
int exit_code();

// The ranks of a data-parallel run (mpirun -np N cadenza train ...), or null
// in a process started alone. main() sets it before parsing.
std::shared_ptr<dist::Communicator>& process_group();

// The text `cadenza ... CMD --help` shows above the flags; listings of
// commands keep the short description.
void set_about(CLI::App& cmd, const std::string& text);
// The flags of a new command: their storage (kept alive by the command's
// callback) and the command's about text.
template <class Flags>
std::shared_ptr<Flags> new_command(CLI::App& cmd, const std::string& about) {
  set_about(cmd, about);
  return std::make_shared<Flags>();
}

// Help with the whole command path in the usage line ("cadenza train poly")
// and each command's about text; set on the root before adding subcommands.
std::shared_ptr<CLI::FormatterBase> help_formatter();

// One model family of `cadenza train|sample|eval FAMILY`. Each function adds
// the family's flags to its subcommand and sets the callback that runs it.
// Adding a family is one row in model_families() (families.cpp) plus its
// own file; the training loop's flags come from TrainFlags (train_flags.h).
struct Family {
  const char* name;
  const char* description;
  void (*train)(CLI::App& cmd);
  void (*sample)(CLI::App& cmd);
  void (*eval)(CLI::App& cmd);
};
const std::vector<Family>& model_families();
void lstm_train(CLI::App& cmd);  // cmd_lstm.cpp
void lstm_sample(CLI::App& cmd);
void lstm_eval(CLI::App& cmd);
void poly_train(CLI::App& cmd);  // cmd_poly.cpp
void poly_sample(CLI::App& cmd);
void poly_eval(CLI::App& cmd);
void wavenet_train(CLI::App& cmd);  // cmd_wavenet.cpp
void wavenet_sample(CLI::App& cmd);
void wavenet_eval(CLI::App& cmd);
void musicgan_train(CLI::App& cmd);  // cmd_musicgan.cpp
void musicgan_sample(CLI::App& cmd);
void musicgan_eval(CLI::App& cmd);

// Registers `cadenza train|sample|eval FAMILY` for every family.
void add_model_commands(CLI::App& root);

}  // namespace cadenza::cli
