#include "models/wavenet.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "models/config_json.h"
#include "engine/autograd.h"

namespace cadenza::models {

std::string WaveNetConfig::to_json() const {
  nlohmann::json j = {{"model", "wavenet"},
                      {"layers", layers},
                      {"stacks", stacks},
                      {"kernel_size", kernel_size},
                      {"residual_channels", residual_channels},
                      {"gate_channels", gate_channels},
                      {"skip_channels", skip_channels},
                      {"quantize", quantize},
                      {"cin_channels", cin_channels},
                      {"gin_channels", gin_channels},
                      {"n_classes", n_classes},
                      {"class_names", class_names},
                      {"upsample_scales", upsample_scales},
                      {"dropout", dropout},
                      {"sample_rate", sample_rate},
                      {"n_fft", n_fft},
                      {"hop_length", hop_length},
                      {"n_mels", n_mels},
                      {"fmin", fmin},
                      {"fmax", fmax}};
  return j.dump();
}

WaveNetConfig WaveNetConfig::from_json(const std::string& text) {
  ConfigJson j(text, "wavenet config", "wavenet", "wavenet");
  WaveNetConfig c;
  j.get("layers", c.layers);
  j.get("stacks", c.stacks);
  j.get("kernel_size", c.kernel_size);
  j.get("residual_channels", c.residual_channels);
  j.get("gate_channels", c.gate_channels);
  j.get("skip_channels", c.skip_channels);
  j.get("quantize", c.quantize);
  j.get("cin_channels", c.cin_channels);
  j.get("gin_channels", c.gin_channels);
  j.get("n_classes", c.n_classes);
  j.get("class_names", c.class_names);
  j.get("upsample_scales", c.upsample_scales);
  j.get("dropout", c.dropout);
  j.get("sample_rate", c.sample_rate);
  j.get("n_fft", c.n_fft);
  j.get("hop_length", c.hop_length);
  j.get("n_mels", c.n_mels);
  j.get("fmin", c.fmin);
  j.get("fmax", c.fmax);
  c.validate();
  return c;
}

void WaveNetConfig::validate() const {
  auto bad = [](const char* field, const std::string& what) {
    throw OptionError(field, std::string("wavenet config: ") + field + " " + what);
  };
  auto positive = [&](const char* field, int64_t v, int64_t hi) {
    if (v < 1 || v > hi) bad(field, "must be in 1.." + std::to_string(hi) + ", got " + std::to_string(v));
  };
  positive("layers", layers, 1024);
  positive("stacks", stacks, layers);
  if (layers % stacks != 0)
    bad("stacks", "must divide layers (" + std::to_string(layers) + "), got " + std::to_string(stacks));
  if (layers / stacks > 30) bad("layers", "per stack must be at most 30 (dilation 2^29)");
  positive("kernel_size", kernel_size, 64);
  positive("residual_channels", residual_channels, 65536);
  positive("skip_channels", skip_channels, 65536);
  if (gate_channels < 2 || gate_channels % 2 != 0 || gate_channels > 65536)
    bad("gate_channels", "must be even and in 2..65536, got " + std::to_string(gate_channels));
  if (quantize < 2 || quantize > 65536) bad("quantize", "must be in 2..65536, got " + std::to_string(quantize));
  if (cin_channels < 0 || cin_channels > 4096) bad("cin_channels", "must be in 0..4096");
  if (n_classes < 0 || n_classes > 1000000) bad("n_classes", "must be in 0..1000000");
  if (n_classes > 0) positive("gin_channels", gin_channels, 65536);
  if (!class_names.empty() && static_cast<int64_t>(class_names.size()) != n_classes)
    bad("class_names", "must name all " + std::to_string(n_classes) + " classes, got " +
                           std::to_string(class_names.size()));
  if (!(dropout >= 0 && dropout < 1)) bad("dropout", "must be in [0, 1), got " + std::to_string(dropout));
  if (sample_rate < 1000 || sample_rate > 384000) bad("sample_rate", "must be in 1000..384000");
  if (cin_channels > 0) {
    int64_t hop = 1;
    for (int64_t s : upsample_scales) {
      if (s < 1 || s > 4096) bad("upsample_scales", "must each be in 1..4096");
      hop *= s;
    }
    if (upsample_scales.empty() || hop != hop_length)
      bad("upsample_scales", "must multiply to hop_length (" + std::to_string(hop_length) + "), got " +
                                 std::to_string(hop));
    if (n_mels != cin_channels) bad("n_mels", "must equal cin_channels with mel conditioning");
  }
}

int64_t WaveNetConfig::dilation(int64_t layer) const { return int64_t(1) << (layer % (layers / stacks)); }

int64_t WaveNetConfig::receptive_field() const {
  int64_t sum = 0;
  for (int64_t i = 0; i < layers; ++i) sum += dilation(i);
  return (kernel_size - 1) * sum + 1;
}

WaveNetLayer::WaveNetLayer(const WaveNetConfig& cfg, int64_t d)
    : nn::Module("WaveNetLayer"), dilation(d), dropout(cfg.dropout) {
  const int64_t R = cfg.residual_channels, G = cfg.gate_channels, S = cfg.skip_channels;
  conv = register_module("conv", std::make_shared<nn::Conv1d>(R, G, cfg.kernel_size, d, 0, true, true));
  if (cfg.cin_channels > 0)
    conv1x1c = register_module("conv1x1c", std::make_shared<nn::Conv1d>(cfg.cin_channels, G, 1, 1, 0, false));
  if (cfg.n_classes > 0)
    conv1x1g = register_module("conv1x1g", std::make_shared<nn::Conv1d>(cfg.gin_channels, G, 1, 1, 0, false));
  conv1x1_out = register_module("conv1x1_out", std::make_shared<nn::Conv1d>(G / 2, R, 1));
  conv1x1_skip = register_module("conv1x1_skip", std::make_shared<nn::Conv1d>(G / 2, S, 1));
}

std::pair<Tensor, Tensor> WaveNetLayer::forward_layer(const Tensor& x, const Tensor& c, const Tensor& g,
                                                       Generator* gen) {
  Tensor h = (*conv)(dropout > 0 ? cadenza::dropout(x, dropout, is_training(), gen) : x);
  if (c.defined()) h = add(h, (*conv1x1c)(c));
  if (g.defined()) h = add(h, (*conv1x1g)(g));  // [B, G, 1] over every step
  Tensor z = gated_activation(h);
  Tensor out = mul(add((*conv1x1_out)(z), x), Tensor::scalar(std::sqrt(0.5), x.dtype()));
  return {out, z};
}

WaveNet::WaveNet(const WaveNetConfig& cfg, Generator* gen) : nn::Module("WaveNet"), config(cfg), gen_(gen) {
  cfg.validate();
  const int64_t R = cfg.residual_channels, S = cfg.skip_channels, Q = cfg.quantize;
  first_conv = register_module("first_conv", std::make_shared<nn::Conv1d>(Q, R, 1));
  auto list = register_module("conv_layers", std::make_shared<nn::ModuleDict>());
  for (int64_t i = 0; i < cfg.layers; ++i)
    layers.push_back(list->add(std::to_string(i), std::make_shared<WaveNetLayer>(cfg, cfg.dilation(i))));
  auto last = register_module("last_conv_layers", std::make_shared<nn::ModuleDict>());
  last1 = last->add("1", std::make_shared<nn::Conv1d>(S, S, 1));
  last3 = last->add("3", std::make_shared<nn::Conv1d>(S, Q, 1));
  if (cfg.n_classes > 0)
    embed_classes = register_module("embed_classes", std::make_shared<nn::Embedding>(cfg.n_classes, cfg.gin_channels));
  if (cfg.cin_channels > 0) {
    auto up = register_module("upsample", std::make_shared<nn::ModuleDict>());
    auto convs = up->add("convs", std::make_shared<nn::ModuleDict>());
    for (size_t j = 0; j < cfg.upsample_scales.size(); ++j) {
      int64_t s = cfg.upsample_scales[j];
      auto conv = convs->add(std::to_string(j), std::make_shared<nn::Conv1d>(1, 1, 2 * s + 1, 1, s, false));
      NoGradGuard ng;
      nn::uniform_init(conv->weight, 1.0 / (2 * s + 1), 1.0 / (2 * s + 1));  // a moving average to start
      upsample_convs.push_back(conv);
    }
  }
}

Tensor WaveNet::upsample_mel(const Tensor& mel) {
  if (!config.cin_channels) throw Error("WaveNet: this model has no local (mel) conditioning");
  if (mel.dim() != 3 || mel.shape()[1] != config.cin_channels)
    throw Error("WaveNet: mel must be [B, " + std::to_string(config.cin_channels) + ", frames], got " + mel.str());
  const int64_t B = mel.shape()[0], C = mel.shape()[1];
  Tensor c = mel;
  for (size_t j = 0; j < upsample_convs.size(); ++j) {
    const int64_t s = config.upsample_scales[j], F = c.shape()[2];
    c = reshape(expand(unsqueeze(c, 3), {B, C, F, s}), {B, C, F * s});  // each frame s times
    c = reshape((*upsample_convs[j])(reshape(c, {B * C, 1, F * s})), {B, C, F * s});
  }
  return c;
}

Tensor WaveNet::class_vectors(const Tensor& classes) {
  if (!embed_classes) throw Error("WaveNet: this model has no global (class) conditioning");
  if (classes.dim() != 1) throw Error("WaveNet: class ids must be [B], got " + classes.str());
  return unsqueeze(embedding(embed_classes->weight, classes), 2);
}

namespace {

void check_ids(const Tensor& x) {
  if (x.dim() != 2 || is_floating(x.dtype()))
    throw Error("WaveNet: input must be integer mu-law ids [B, T], got " + x.str());
}

}  // namespace

Tensor WaveNet::forward_audio(const Tensor& x, const Tensor& mel, const Tensor& classes) {
  // Without a mel, forward_conditioned checks everything (a vocoder needs one).
  if (!mel.defined()) return forward_conditioned(x, Tensor(), classes);
  if (config.cin_channels == 0) throw Error("WaveNet: this model takes no mel spectrogram");
  check_ids(x);
  const int64_t T = x.shape()[1];
  if (mel.dim() != 3 || mel.shape()[0] != x.shape()[0] || mel.shape()[2] * config.hop_length < T)
    throw Error("WaveNet: mel " + mel.str() + " does not cover input " + x.str() + " at hop " +
                std::to_string(config.hop_length));
  return forward_conditioned(x, narrow(upsample_mel(mel), 2, 0, T), classes);
}

Tensor WaveNet::forward_conditioned(const Tensor& x, const Tensor& c, const Tensor& classes) {
  check_ids(x);
  const int64_t B = x.shape()[0], T = x.shape()[1], R = config.residual_channels;
  if (c.defined() != (config.cin_channels > 0))
    throw Error(config.cin_channels > 0 ? "WaveNet: this vocoder needs a mel spectrogram"
                                        : "WaveNet: this model takes no mel spectrogram");
  if (c.defined() && c.shape() != Shape{B, config.cin_channels, T})
    throw Error("WaveNet: upsampled mel " + c.str() + " does not match input " + x.str());
  if (classes.defined() != (config.n_classes > 0))
    throw Error(config.n_classes > 0 ? "WaveNet: this model needs class ids" : "WaveNet: this model takes no class ids");
  // The 1x1 over a one-hot input is a column lookup of its weight.
  Tensor table = contiguous(transpose(reshape(first_conv->weight, {R, config.quantize}), 0, 1));
  Tensor h = add(transpose(embedding(table, x), 1, 2), reshape(first_conv->bias, {1, R, 1}));
  Tensor g;
  if (classes.defined()) {
    if (classes.shape() != Shape{B}) throw Error("WaveNet: class ids " + classes.str() + " do not match input " + x.str());
    g = class_vectors(classes);
  }
  // The skip 1x1s of all layers, summed and scaled by sqrt(1 / layers), are
  // one product: their weights side by side over the gates' outputs stacked
  // on the channels, with the scale folded into the (small) weights and the
  // summed biases. One GEMM of depth layers * G/2 writes the skip sum once,
  // where a product per layer and a running sum passed over it 2 x layers
  // times.
  std::vector<Tensor> zs, ws;
  Tensor bias_sum;
  for (auto& layer : layers) {
    auto [next, z] = layer->forward_layer(h, c, g, gen_);
    h = next;
    zs.push_back(z);
    ws.push_back(layer->conv1x1_skip->weight);
    const Tensor& b = layer->conv1x1_skip->bias;
    bias_sum = bias_sum.defined() ? add(bias_sum, b) : b;
  }
  const Tensor scale = Tensor::scalar(std::sqrt(1.0 / static_cast<double>(layers.size())), h.dtype());
  Tensor skips = conv1d(zs.size() == 1 ? zs[0] : concat(zs, 1), mul(ws.size() == 1 ? ws[0] : concat(ws, 1), scale),
                        mul(bias_sum, scale));
  return (*last3)(relu((*last1)(relu(skips))));
}

}  // namespace cadenza::models
