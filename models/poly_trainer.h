#pragma once
// Training, evaluation and sampling of the polyphonic PolyModel.
//
// Training follows the benchmark's protocol: every piece is one sequence,
// predicted frame by frame from a zero state, with the loss the per-frame sum
// over 88 keys of binary cross-entropy. Pieces are batched (padded and
// masked; sorted by length within windows so little is padding), Adam with
// global-norm clipping, linear warmup then cosine decay over all epochs.
// Model selection is by validation NLL, evaluated after every epoch.
//
// Everything that decides the next step (model, optimizer, generator, epoch
// and position in it) is in the checkpoint, so a resumed run produces the
// same losses as an uninterrupted one.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/poly_data.h"
#include "models/poly_model.h"

namespace cadenza::models {

struct PolyTrainOptions {
  std::string out_dir;
  int64_t batch = 8;     // pieces per step
  int64_t epochs = 100;
  double lr = 1e-3;
  double clip = 1.0;
  int64_t warmup = 0;    // steps
  uint64_t seed = 1;
  // Start the output bias at the log-odds of each key's frequency in the
  // training targets instead of PyTorch's uniform init: the model then
  // starts from the marginal distribution rather than spending its first
  // epochs learning that most keys are silent.
  bool marginal_bias = true;
  int transpose = 0;     // each epoch, shift each training piece by up to this many semitones
  int64_t patience = 0;  // stop after this many epochs without a better validation NLL (0: never)
  int64_t log_every = 10;
  bool resume = false;
  int64_t resume_epochs = -1;  // with resume: train to this many epochs instead of the saved count
  int64_t stop_at = -1;        // act as if interrupted after this step (tests)
  bool quiet = false;

  std::string to_json() const;
  void from_json(const std::string& json);  // the fields that shape the run
};

struct PolyTrainResult {
  int64_t steps_done = 0, epochs_done = 0;
  int64_t best_epoch = 0;
  double best_val_nll = 0;  // nats per predicted frame
  double final_val_nll = 0;
  double seconds = 0;       // wall-clock of this call's training and evaluation
  bool interrupted = false;
  bool stopped_early = false;          // patience ran out
  std::vector<double> losses;          // training loss (nats per frame) of every step run in this call
};

// Batches of piece indices for one epoch, a function of (seed, epoch) only:
// a random permutation, sorted by length within windows of 16 batches, the
// batch order shuffled again. Every epoch has ceil(pieces / batch) batches.
std::vector<std::vector<int64_t>> poly_epoch_batches(const std::vector<PolyPiece>& pieces, int64_t batch,
                                                     uint64_t seed, int64_t epoch);

// Per piece, a transposition in [-max_shift, max_shift] semitones (uniform
// among those that keep the piece on the keyboard), a function of
// (seed, epoch) only. All zeros when max_shift is 0.
std::vector<int> poly_epoch_shifts(const std::vector<PolyPiece>& pieces, int max_shift, uint64_t seed,
                                   int64_t epoch);

PolyTrainResult train_poly(const PolyModelConfig& cfg, const PolyDataset& data, PolyTrainOptions opt);

// NLL in nats per predicted frame of `model` over `pieces`: each piece run
// from a zero state, frame t+1 predicted from frames up to t, every predicted
// frame of every piece weighted equally (the TCN paper's evaluation).
double evaluate_poly(PolyModel& model, const std::vector<PolyPiece>& pieces, int64_t* frames_out = nullptr);

// Draws `frames` frames: frame 0 is `primer` (MIDI pitches, 21..108), each
// next one a Bernoulli draw per key from sigmoid(logit / temperature), with
// `uniform` (numbers in [0, 1)) as the only randomness. -> [frames, 88] keys.
std::vector<uint8_t> sample_poly(PolyModel& model, int64_t frames, const std::vector<int>& primer,
                                 double temperature, const std::function<double()>& uniform);

// Per key, log(p / (1 - p)) of the fraction p of predicted frames in which
// it sounds (p clamped to [1e-4, 1 - 1e-4]). -> [88]
std::vector<float> key_log_odds(const std::vector<PolyPiece>& pieces);

// Loads a PolyModel and its config from a checkpoint (in eval mode).
std::unique_ptr<PolyModel> load_poly_model(const std::string& path);

}  // namespace cadenza::models
