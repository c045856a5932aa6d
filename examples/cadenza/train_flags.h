#pragma once
// The flags every family's `cadenza train` shares: the training loop's
// options (models/trainer.h), parsed in one place, and the one SIGINT
// handler (Ctrl-C asks the loop to save and return).
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "commands.h"
#include "models/trainer.h"

namespace cadenza::cli {

class TrainFlags {
 public:
  enum class Length { kSteps, kEpochs };
  // Adds --out, --steps or --epochs, --lr, --clip, --warmup, --schedule,
  // --lr-decay, --seed, --eval-every, --patience, --log-every, --resume and
  // --threads to `cmd`, showing `d`'s values as defaults; `notes` replaces
  // the default shown for a flag (e.g. one that depends on the data).
  void add(CLI::App& cmd, Length length, const models::LoopOptions& d,
           const std::map<std::string, std::string>& notes = {});
  // Copies the flags given into `o` (the others keep o's values), records in
  // o.given every flag given on `cmd` (as the field it sets), so that a
  // resume names those the saved run overrides, and applies --threads.
  void apply(const CLI::App& cmd, models::LoopOptions& o) const;

 private:
  models::LoopOptions v_;
  std::string schedule_ = "cosine";
  int threads_ = 0;
  std::string device_ = "cpu";
  std::vector<std::pair<std::string, std::function<void(models::LoopOptions&)>>> copies_;
};

// What a family's train command parses: the loop's flags, its data, its
// model config and its trainer's options (a family adds its own fields).
template <class Config, class Options, class Data = std::string>
struct TrainCommand {
  TrainFlags loop;
  Data data;
  Config cfg;
  Options o;
};

// Whether `flag` (without dashes) was given on `cmd`.
bool given(const CLI::App& cmd, const std::string& flag);

// The option field a flag sets ("seq-len" -> "seq_len") and back.
std::string flag_to_field(const std::string& flag);
std::string field_to_flag(const std::string& field);

// Runs `train` with SIGINT, SIGTERM and SIGUSR1 asking the loop to stop (it
// saves latest and returns); the previous handlers are restored afterwards.
void run_with_stop_on_sigint(const std::function<void()>& train);

// --threads N for the sample and eval commands.
void add_threads_flag(CLI::App& cmd, int& threads);
void apply_threads(int threads);

}  // namespace cadenza::cli
