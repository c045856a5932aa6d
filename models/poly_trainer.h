#pragma once
// Training, evaluation and sampling of the polyphonic PolyModel. Training is
// a task of the one training loop (models/trainer.h).
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
#include "models/trainer.h"

namespace cadenza::models {

// The loop's options (models/trainer.h: epochs, lr, clip, warmup, seed,
// patience, resume, ...) and the poly trainer's own.
struct PolyTrainOptions : LoopOptions {
  int64_t batch = 8;     // pieces per step
  // Start the output bias at the log-odds of each key's frequency in the
  // training targets instead of PyTorch's uniform init: the model then
  // starts from the marginal distribution rather than spending its first
  // epochs learning that most keys are silent.
  bool marginal_bias = true;
  int transpose = 0;     // each epoch, shift each training piece by up to this many semitones
  PolyTrainOptions() { epochs = 100; }
};

// The best recipe known for a dataset of the benchmark (by its file name:
// jsb_chorales, nottingham, musedata, piano_midi; others get JSB's), as
// measured in benchmarks/POLYPHONIC.md. Regularisation is part of it:
// transposition and early stopping where they help.
struct PolyRecipe {
  std::string dataset;  // which row applied ("jsb_chorales", ...; "default" otherwise)
  int64_t layers = 2, hidden = 200;
  double dropout = 0.2;
  int64_t batch = 4, epochs = 150, patience = 40;
  double lr = 3e-3;
  int transpose = 6;
  double frame_beats = 0.5;  // a frame's length in quarter notes, for MIDI output
};
PolyRecipe poly_recipe(const std::string& dataset_name);

using PolyTrainResult = TrainResult;

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
