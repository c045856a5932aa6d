// The cadenza command-line program: one CLI11 application whose subcommands
// are registered by the files that run them.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <thread>

#include "engine/threading.h"

#include "commands.h"
#include "models/trainer.h"
#include "train_flags.h"
#include <cadenza/config.h>

namespace cadenza::cli {
namespace {

int g_exit_code = 0;

// The deepest subcommand the command line chose ("cadenza train lstm").
const CLI::App* chosen(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) return chosen(*sub);
  return &app;
}

std::string command_path(const CLI::App& app) {
  std::string path;
  for (const CLI::App* a = chosen(app); a; a = a->get_parent())
    path = a->get_name() + (path.empty() ? "" : " " + path);
  return path;
}

// The flag a library option error is about, if the chosen command has it.
std::string flag_of(const CLI::App& app, const std::string& field) {
  static const std::pair<const char*, const char*> aliases[] = {{"marginal_bias", "bias-init"},
                                                                {"vocab_size", "vocab"}};
  std::string flag = field_to_flag(field);
  for (auto& [f, a] : aliases)
    if (field == f) flag = a;
  return chosen(app)->get_option_no_throw("--" + flag) ? "--" + flag : "";
}

}  // namespace

std::shared_ptr<dist::Communicator>& process_group() {
  static std::shared_ptr<dist::Communicator> group;
  return group;
}

namespace {

// Under mpirun: joins the ranks, silences the standard output of all but
// rank 0 (which logs for the run), and gives each rank its share of this
// machine's cores unless --threads or CADENZA_NUM_THREADS says otherwise.
// Returns an exit code when the command cannot run data-parallel.
int join_ranks(int argc, char** argv) {
  if (!dist::mpi_launched()) return 0;
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd != "train" && cmd != "bench") {
    std::fprintf(stderr, "cadenza %s: only `cadenza train` (and `cadenza bench`) run over several MPI ranks; "
                 "start this command without mpirun\n", cmd.c_str());
    return 2;
  }
  try {
    process_group() = dist::mpi_world();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cadenza %s: %s\n", cmd.c_str(), e.what());
    return 2;
  }
  if (process_group()->rank() != 0 && !std::freopen("/dev/null", "w", stdout))
    std::fprintf(stderr, "cadenza: rank %d: cannot silence stdout\n", process_group()->rank());
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  const char* own = std::getenv("CADENZA_NUM_THREADS");
  if (local && std::atoi(local) > 0 && !(own && *own)) {
    int cores = static_cast<int>(std::thread::hardware_concurrency());
    set_num_threads(std::max(1, cores / std::atoi(local)));
  }
  return 0;
}

}  // namespace

void set_exit_code(int code) { g_exit_code = code; }
int exit_code() { return g_exit_code; }

}  // namespace cadenza::cli

int main(int argc, char** argv) {
  using namespace cadenza::cli;
  CLI::App app("cadenza " CADENZA_VERSION " - a deep-learning engine for music", "cadenza");
  app.formatter(help_formatter());
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("cadenza ") + CADENZA_VERSION + " (cuda: " +
                                        (CADENZA_HAVE_CUDA ? "yes" : "no") +
                                        ", fluidsynth: " + (CADENZA_HAVE_FLUIDSYNTH ? "yes" : "no") + ")");
  app.footer("cadenza COMMAND --help shows a command's flags.");
  add_model_commands(app);
  add_bench_command(app);
  add_midi_command(app);
  add_audio_command(app);
  if (int rc = join_ranks(argc, argv)) return rc;
  // A rank that fails names itself and stops the others (MPI_Abort), which
  // would otherwise wait for it in the next collective.
  auto& group = process_group();
  const std::string who = group ? "rank " + std::to_string(group->rank()) + ": " : "";
  auto stop_all = [&](int code) {
    if (group && group->size() > 1) {
      std::fflush(stderr);
      group->abort(code);
    }
    return code;
  };
  auto usage_error = [&](const std::string& what) {
    std::string path = command_path(app);
    std::fprintf(stderr, "%s: %s%s\n(see: %s --help)\n", path.c_str(), who.c_str(), what.c_str(), path.c_str());
    return stop_all(2);
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(chosen(app)->help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::printf("%s\n", e.what());
    return 0;
  } catch (const CLI::RequiredError& e) {
    // `cadenza` or `cadenza train` alone: what there is to choose from.
    if (argc <= 2 && std::string(e.what()).find("subcommand") != std::string::npos) {
      std::fputs(chosen(app)->help().c_str(), stderr);
      return 2;
    }
    return usage_error(e.what());
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  } catch (const UsageError& e) {
    return usage_error(e.what());
  } catch (const cadenza::OptionError& e) {
    std::string flag = flag_of(app, e.option);
    return usage_error(flag.empty() ? e.what() : flag + ": " + e.what());
  } catch (const cadenza::models::TrainingDiverged& e) {
    std::fprintf(stderr, "%s: %serror: %s (--lr, --clip)\n", command_path(app).c_str(), who.c_str(), e.what());
    return stop_all(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %serror: %s\n", command_path(app).c_str(), who.c_str(), e.what());
    return stop_all(1);
  }
  return exit_code();
}
