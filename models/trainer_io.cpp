#include "models/trainer_io.h"

#include <cmath>
#include <cstdio>

#include "engine/plot.h"

namespace cadenza::models {

namespace {
// Not the optimizer's or a trainer's state: "optim.", "trainer.", and a
// data-parallel rank's own trainer state, "rank<N>.trainer.".
bool is_model_tensor(const std::string& name) {
  if (name.rfind("optim.", 0) == 0 || name.rfind("trainer.", 0) == 0) return false;
  if (name.rfind("rank", 0) == 0) {
    size_t i = 4;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
    if (i > 4 && name.compare(i, 9, ".trainer.") == 0) return false;
  }
  return true;
}
}  // namespace

void save_model_checkpoint(const std::string& path, const nn::Module& model, const std::string& config_json,
                           const std::string& format, const NamedTensors& extra,
                           std::map<std::string, std::string> metadata) {
  NamedTensors tensors = model.state_dict();
  tensors.insert(tensors.end(), extra.begin(), extra.end());
  metadata["config"] = config_json;
  metadata["format"] = format;
  save_safetensors(path, tensors, metadata);
}

void load_model_tensors(nn::Module& model, const LoadedTensors& ck, const std::string& prefix) {
  nn::StateDict sd;
  for (auto& kv : ck.tensors)
    if (is_model_tensor(kv.first) && kv.first.compare(0, prefix.size(), prefix) == 0)
      sd.emplace_back(kv.first.substr(prefix.size()), kv.second);
  try {
    model.load_state_dict(sd);
  } catch (const Error& e) {
    throw Error("'" + ck.path + "': " + e.what());
  }
}

std::string checkpoint_config_json(const LoadedTensors& ck, const std::string& format, const std::string& kind,
                                   bool require_format) {
  auto fmt = ck.metadata.find("format");
  bool has = fmt != ck.metadata.end();
  if (!format.empty() && (has ? fmt->second != format : require_format))
    throw Error("'" + ck.path + "' is not a cadenza " + kind + " checkpoint (format '" +
                (has ? fmt->second : std::string("none")) + "', expected '" + format + "')");
  auto it = ck.metadata.find("config");
  if (it == ck.metadata.end())
    throw Error("'" + ck.path + "' has no model config in its metadata (not a cadenza " + kind + " checkpoint)");
  return it->second;
}

std::string need_metadata(const LoadedTensors& ck, const std::string& key) {
  auto it = ck.metadata.find(key);
  if (it == ck.metadata.end()) throw Error("'" + ck.path + "' lacks '" + key + "' (not a trainer checkpoint)");
  return it->second;
}

std::string exact_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void plot_training_curves(const std::string& path, const std::string& title,
                          const std::vector<std::vector<double>>& rows, size_t x_col, size_t train_col,
                          size_t val_col, const std::string& train_label, const std::string& y_label) {
  Series tr{train_label, {}, {}, 31, 119, 180}, va{"validation nll", {}, {}, 214, 39, 40};
  for (auto& r : rows) {
    if (std::isfinite(r[train_col])) {
      tr.x.push_back(r[x_col]);
      tr.y.push_back(r[train_col]);
    }
    if (std::isfinite(r[val_col])) {
      va.x.push_back(r[x_col]);
      va.y.push_back(r[val_col]);
    }
  }
  plot_lines(path, title, {tr, va}, "step", y_label);
}

}  // namespace cadenza::models
