#pragma once
// Trains a SequenceModel on token sequences with truncated BPTT, as a task
// of the one training loop (models/trainer.h): the training pieces are
// shuffled (and optionally transposed) per epoch, concatenated and cut into
// `batch` parallel streams; each step takes the next seq_len tokens of every
// stream and carries the recurrent state on. Adam, global-norm clipping,
// linear warmup then cosine decay by default.
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
#include "models/trainer.h"

namespace cadenza::models {

using TokenSeq = std::vector<int32_t>;

// The loop's options (models/trainer.h: steps, lr, clip, warmup, seed,
// eval_every, patience, resume, ...) and the token trainer's own.
struct TokenTrainOptions : LoopOptions {
  int64_t batch = 32;          // parallel streams; < 0: 32, or fewer when the data cannot fill 32
  int64_t seq_len = 128;       // tokens per step and stream (the BPTT window)
  int64_t val_tokens = 65536;  // cap on validation tokens per evaluation
  int transpose = 0;           // random shift in [-transpose, transpose] per piece
  TokenTrainOptions() {
    steps = 2000;
    eval_every = 100;
  }
};

// The warmup a token run gets when none is given (at most a tenth of the run).
constexpr int64_t kTokenDefaultWarmup = 100;

// piece, semitones -> transposed piece (empty = cannot transpose).
using TransposeFn = std::function<TokenSeq(const TokenSeq&, int)>;

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
