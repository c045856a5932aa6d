#pragma once
// What every cadenza trainer does the same way around its loop: the layout
// of a trainer checkpoint (the model's tensors under their PyTorch names,
// the optimizer's under "optim.", trainer state under "trainer."), loading
// one with the file named in every error, and the loss-curve picture.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "engine/random.h"

namespace cadenza::models {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Writes model.state_dict() and `extra` atomically, with the model's config
// JSON under metadata "config" and the checkpoint kind under "format".
void save_model_checkpoint(const std::string& path, const nn::Module& model, const std::string& config_json,
                           const std::string& format, const NamedTensors& extra,
                           std::map<std::string, std::string> metadata);

// The optimizer's state (prefixed "optim.") and the generator's state
// ("trainer.rng"), to store beside the model's tensors.
NamedTensors trainer_state_tensors(const optim::Optimizer& opt, const Generator& gen);

// Loads the model tensors of a checkpoint (all but "optim." and "trainer.")
// into `model`, strictly; errors name the file.
void load_model_tensors(nn::Module& model, const LoadedTensors& ck);

// Restores what trainer_state_tensors stored.
void load_trainer_state(const LoadedTensors& ck, optim::Optimizer& opt, Generator& gen);

// The metadata value `key` of a trainer checkpoint; Error naming the file
// when it is missing.
std::string need_metadata(const LoadedTensors& ck, const std::string& key);

// A double as text that reads back to the same value.
std::string exact_double(double v);

// Draws the training and validation curves from metrics rows (those of
// earlier runs of the same directory first); NaN cells are skipped.
void plot_training_curves(const std::string& path, const std::string& title,
                          const std::vector<std::vector<double>>& rows, size_t x_col, size_t train_col,
                          size_t val_col, const std::string& train_label, const std::string& y_label);

}  // namespace cadenza::models
