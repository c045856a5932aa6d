// The cadenza command-line program.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "args.h"
#include "commands.h"
#include <cadenza/config.h>

namespace {

const char* kUsage =
    "cadenza " CADENZA_VERSION " - a deep-learning engine for music\n"
    "\n"
    "usage: cadenza COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  train lstm ...          train the LSTM/GRU model on MIDI files\n"
    "  sample lstm ...         generate MIDI (and WAV) from a checkpoint\n"
    "  eval lstm ...           NLL per token of a checkpoint on MIDI files\n"
    "  train poly ...          train the piano-roll LSTM/GRU on the polyphonic benchmark (JSON)\n"
    "  sample poly ...         generate MIDI (and WAV) from a poly checkpoint\n"
    "  eval poly ...           NLL per frame of a poly checkpoint on a split\n"
    "  bench NAME [--json]     run a benchmark workload (cadenza bench --list)\n"
    "  midi  SUBCOMMAND ...    MIDI files: info, convert, tokens, render, roll\n"
    "  audio SUBCOMMAND ...    audio files: info, convert, features, spectrogram\n"
    "\n"
    "options:\n"
    "  --help                  this text (also: cadenza COMMAND --help)\n"
    "  --version               the version and the build's features\n";

struct Command {
  const char* name;
  int (*run)(int, char**);
};

const Command kCommands[] = {
    {"train", cadenza::cli::cmd_train},
    {"sample", cadenza::cli::cmd_sample},
    {"eval", cadenza::cli::cmd_eval},
    {"bench", cadenza::cli::cmd_bench},
    {"midi", cadenza::cli::cmd_midi},
    {"audio", cadenza::cli::cmd_audio},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("cadenza %s (cuda: %s, fluidsynth: %s)\n", CADENZA_VERSION,
                CADENZA_HAVE_CUDA ? "yes" : "no", CADENZA_HAVE_FLUIDSYNTH ? "yes" : "no");
    return 0;
  }
  for (const auto& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(argc, argv);
    } catch (const cadenza::cli::UsageError& e) {
      std::fprintf(stderr, "cadenza %s: %s\n(see: cadenza %s --help)\n", c.name, e.what(), c.name);
      return 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cadenza %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "cadenza: unknown command '%s'\n\n%s", argv[1], kUsage);
  return 2;
}
