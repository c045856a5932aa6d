#pragma once
// Trains a SequenceModel on token sequences with truncated BPTT: the
// training pieces are shuffled (and optionally transposed) per epoch,
// concatenated and cut into `batch` parallel streams; each step takes the
// next seq_len tokens of every stream and carries the recurrent state on.
// Adam, global-norm clipping, linear warmup then cosine decay.
//
// Everything that decides the next step (model, optimizer, generator, stream
// position, carried state) is in the checkpoint, so a resumed run produces
// the same losses as an uninterrupted one.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/sequence_model.h"

namespace cadenza::models {

using TokenSeq = std::vector<int32_t>;

struct TokenTrainOptions {
  std::string out_dir;
  int64_t batch = 32;
  int64_t seq_len = 128;
  int64_t steps = 2000;
  double lr = 1e-3;
  double clip = 1.0;
  int64_t warmup = 100;
  uint64_t seed = 1;
  int64_t eval_every = 100;
  int64_t log_every = 10;
  int64_t val_tokens = 65536;  // cap on validation tokens per evaluation
  int transpose = 0;           // random shift in [-transpose, transpose] per piece
  bool resume = false;
  int64_t resume_steps = -1;   // with resume: train to this many steps instead of the saved count
  int64_t stop_at = -1;        // act as if interrupted after this step (tests)
  bool quiet = false;

  std::string to_json() const;
  void from_json(const std::string& json);  // the fields that shape the run
};

// piece, semitones -> transposed piece (empty = cannot transpose).
using TransposeFn = std::function<TokenSeq(const TokenSeq&, int)>;

struct TrainResult {
  int64_t steps_done = 0;
  double last_loss = 0;
  double best_val_nll = 0;      // nats per token
  double final_val_nll = 0;
  bool interrupted = false;
  std::vector<double> losses;   // the training loss of every step run in this call
};

// Set by the SIGINT handler of the command-line trainer; checked after
// every step: the trainer saves latest.safetensors and returns.
std::atomic<bool>& stop_requested();

TrainResult train_tokens(const SequenceModelConfig& cfg, const std::vector<TokenSeq>& train,
                         const std::vector<TokenSeq>& valid, TokenTrainOptions opt,
                         const TransposeFn& transpose = nullptr);

// Average NLL (nats per predicted token) of `model` over `pieces`, each run
// from a zero state in windows of seq_len; returns the token count too.
double evaluate_nll(SequenceModel& model, const std::vector<TokenSeq>& pieces, int64_t seq_len,
                    int64_t max_tokens, int64_t* tokens_out = nullptr);

// Unigram NLL of `valid` under add-one smoothed training frequencies.
double unigram_nll(const std::vector<TokenSeq>& train, const std::vector<TokenSeq>& valid, int64_t vocab);

// Loads a SequenceModel and its config from a checkpoint.
std::unique_ptr<SequenceModel> load_sequence_model(const std::string& path);
// Saves model (+ extra tensors and metadata) atomically.
void save_sequence_checkpoint(const std::string& path, const SequenceModel& model,
                              const std::vector<std::pair<std::string, Tensor>>& extra,
                              std::map<std::string, std::string> metadata);

}  // namespace cadenza::models
