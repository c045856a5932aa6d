#include "models/poly_model.h"

#include <nlohmann/json.hpp>

#include "models/config_json.h"
#include "engine/ops.h"

namespace cadenza::models {

std::string PolyModelConfig::to_json() const {
  nlohmann::json j = {{"model", "poly"},         {"cell", cell},       {"keys", kPolyKeys},
                      {"low_pitch", kPolyLowPitch}, {"hidden", hidden}, {"layers", layers},
                      {"dropout", dropout},      {"frame_beats", frame_beats}, {"dataset", dataset}};
  return j.dump();
}

PolyModelConfig PolyModelConfig::from_json(const std::string& text) {
  ConfigJson j(text, "poly model config", "poly", "poly model");
  PolyModelConfig c;
  int64_t keys = 0, low = 0;
  j.get("keys", keys);
  j.get("low_pitch", low);
  if (keys != kPolyKeys || low != kPolyLowPitch)
    throw Error("poly model config: keys " + std::to_string(keys) + " from pitch " + std::to_string(low) +
                "; this build reads 88 keys from pitch 21");
  j.get("cell", c.cell);
  j.get("hidden", c.hidden);
  j.get("layers", c.layers);
  j.get("dropout", c.dropout);
  j.get("frame_beats", c.frame_beats);
  if (j.has("dataset")) j.get("dataset", c.dataset);
  c.validate();
  return c;
}

void PolyModelConfig::validate() const {
  auto bad = [](const char* field, const std::string& what) {
    throw OptionError(field, std::string("poly model config: ") + field + " " + what);
  };
  if (cell != "lstm" && cell != "gru") bad("cell", "must be lstm or gru, got '" + cell + "'");
  if (hidden <= 0 || hidden > 65536) bad("hidden", "must be in 1..65536, got " + std::to_string(hidden));
  if (layers <= 0 || layers > 64) bad("layers", "must be in 1..64, got " + std::to_string(layers));
  if (!(dropout >= 0 && dropout < 1)) bad("dropout", "must be in [0, 1), got " + std::to_string(dropout));
  if (!(frame_beats > 0 && frame_beats <= 16))
    bad("frame_beats", "must be in (0, 16], got " + std::to_string(frame_beats));
}

PolyModel::PolyModel(const PolyModelConfig& cfg, Generator* gen)
    : Module("PolyModel"), config(cfg), gen_(gen) {
  cfg.validate();
  rnn = register_module("rnn", std::make_shared<nn::RNNBase>(cfg.cell, kPolyKeys, cfg.hidden, cfg.layers, true,
                                                             cfg.dropout, true, DType::f32, gen));
  output = register_module("output", std::make_shared<nn::Linear>(cfg.hidden, kPolyKeys));
}

Tensor PolyModel::forward_frames(const Tensor& frames, RecurrentState* state) {
  if (frames.dim() != 3 || frames.size(2) != kPolyKeys)
    throw Error("PolyModel: frames must be [B, T, 88], got " + frames.str());
  RecurrentState in = state ? *state : RecurrentState{};
  auto out = rnn->forward_rnn(frames, in.h, config.cell == "lstm" ? in.c : Tensor());
  if (state) *state = {out.h_n, out.c_n};
  Tensor y = out.output;
  if (config.dropout > 0 && is_training()) y = dropout(y, config.dropout, true, gen_);
  return output->forward(y);
}

Tensor poly_frame_nll_sum(const Tensor& logits, const Tensor& target, const Tensor& mask) {
  if (logits.dim() != 3 || logits.shape() != target.shape())
    throw Error("poly_frame_nll_sum: logits " + logits.str() + " and target " + target.str() +
                " must both be [B, T, keys]");
  if (mask.dim() != 2 || mask.size(0) != logits.size(0) || mask.size(1) != logits.size(1))
    throw Error("poly_frame_nll_sum: mask " + mask.str() + " must be [B, T] of logits " + logits.str());
  Tensor per_key = binary_cross_entropy_with_logits(logits, target, "none");  // [B, T, K]
  Tensor per_frame = sum(per_key, {2});                                       // [B, T]
  return sum(mul(per_frame, mask));
}

}  // namespace cadenza::models
