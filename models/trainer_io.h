#pragma once
// The checkpoint layout every cadenza trainer shares (the model's tensors
// under their PyTorch names, the optimizer's under "optim.", trainer state
// under "trainer."), loading one with the file named in every error, and the
// loss-curve picture. The loop itself is models/trainer.h.
#include <map>
#include <memory>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/nn.h"
#include "models/trainer.h"  // NamedTensors

namespace cadenza::models {


// Writes model.state_dict() and `extra` atomically, with the model's config
// JSON under metadata "config" and the checkpoint kind under "format".
void save_model_checkpoint(const std::string& path, const nn::Module& model, const std::string& config_json,
                           const std::string& format, const NamedTensors& extra,
                           std::map<std::string, std::string> metadata);

// Loads the model tensors of a checkpoint (all but "optim." and "trainer.")
// whose names start with `prefix` (stripped) into `model`, strictly; errors
// name the file.
void load_model_tensors(nn::Module& model, const LoadedTensors& ck, const std::string& prefix = "");

// The model config JSON of checkpoint `ck`, written by a model of kind
// `kind` ("poly model"). With `format` non-empty, a checkpoint of another
// format is refused (and, if require_format, one with none). Errors name
// the file.
std::string checkpoint_config_json(const LoadedTensors& ck, const std::string& format, const std::string& kind,
                                   bool require_format);

// Loads a Model (constructed from its config, whose type has from_json())
// from a checkpoint, in eval mode; every error names the file.
template <class Model>
std::unique_ptr<Model> load_checkpoint_model(const std::string& path, const std::string& format,
                                             const std::string& kind, bool require_format) {
  using Config = std::decay_t<decltype(std::declval<Model&>().config)>;
  LoadedTensors ck = load_safetensors(path);
  std::string json = checkpoint_config_json(ck, format, kind, require_format);
  Config cfg;
  try {
    cfg = Config::from_json(json);
  } catch (const Error& e) {
    throw Error("'" + path + "': " + e.what());
  }
  auto model = std::make_unique<Model>(cfg);
  load_model_tensors(*model, ck);
  model->eval();
  return model;
}

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
