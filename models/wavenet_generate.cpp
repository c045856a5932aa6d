#include "models/wavenet_generate.h"

#include <cadenza/config.h>

#include "audio/audio.h"
#include "engine/autograd.h"
#include "engine/backend.h"
#include "kernels/cpu/wavenet_generate.h"
#if CADENZA_HAVE_CUDA
#include "kernels/cuda/wavenet_generate.h"
#endif

namespace cadenza::models {

namespace {

const float* f32(const Tensor& t, const char* what) {
  if (t.dtype() != DType::f32 || !t.is_contiguous())
    throw Error(std::string("wavenet generation: ") + what + " must be contiguous f32, got " + t.str());
  return t.data<float>();
}

}  // namespace

struct WaveNetGenerator::Impl {
  std::vector<float> table;                // [Q][R]
  std::vector<Tensor> gate_bias;           // per layer [N, G] (global conditioning)
  kernels::WaveNetGenWeights w;
  std::unique_ptr<kernels::WaveNetGenState> state;  // the CPU generator, or
#if CADENZA_HAVE_CUDA
  std::unique_ptr<kernels::cuda::WaveNetGenDevice> device;  // the GPU's
#endif
  // run() on the GPU for step(): one sample's logits (its draw is discarded).
  std::vector<double> one_u;
  std::vector<int32_t> one_out;
};

WaveNetGenerator::~WaveNetGenerator() = default;

int32_t sample_from_logits(const float* logits, int64_t Q, double temperature, double u) {
  return kernels::wavenet_sample(logits, Q, temperature, u);
}

int32_t wavenet_silence_id(const WaveNetConfig& cfg) {
  return audio::mu_law_encode({0.0f}, static_cast<int>(cfg.quantize))[0];
}

WaveNetGenerator::WaveNetGenerator(WaveNet& model, int64_t streams, const std::vector<int64_t>& classes,
                                   const WaveNetGenOptions& options)
    : model_(model), streams_(streams), impl_(std::make_unique<Impl>()) {
  kernels::WaveNetGenWeights& w_ = impl_->w;
  std::vector<float>& table_ = impl_->table;
  const WaveNetConfig& c = model.config;
  NoGradGuard ng;
  if (c.n_classes > 0 && static_cast<int64_t>(classes.size()) != streams)
    throw Error("wavenet generation: a class-conditioned model needs one class per stream (" +
                std::to_string(streams) + "), got " + std::to_string(classes.size()));
  if (c.n_classes == 0 && !classes.empty()) throw Error("wavenet generation: this model takes no class ids");
  const int64_t R = c.residual_channels, G = c.gate_channels, K = c.kernel_size, Q = c.quantize;
  w_.R = R;
  w_.G = G;
  w_.S = c.skip_channels;
  w_.Q = Q;
  w_.K = K;
  w_.cin = c.cin_channels;
  // first_conv over a one-hot input: column q of its weight, plus its bias.
  const float* fw = f32(model.first_conv->weight, "first_conv.weight");
  const float* fb = f32(model.first_conv->bias, "first_conv.bias");
  table_.resize(static_cast<size_t>(Q * R));
  for (int64_t q = 0; q < Q; ++q)
    for (int64_t r = 0; r < R; ++r) table_[q * R + r] = fw[r * Q + q] + fb[r];
  w_.input_table = table_.data();
  Tensor g;
  if (c.n_classes > 0) {
    Tensor ids = Tensor::empty({streams}, DType::i64);
    for (int64_t n = 0; n < streams; ++n) {
      if (classes[n] < 0 || classes[n] >= c.n_classes)
        throw Error("wavenet generation: class " + std::to_string(classes[n]) + " is outside the model's " +
                    std::to_string(c.n_classes));
      ids.data<int64_t>()[n] = classes[n];
    }
    g = model.class_vectors(ids);  // [N, gin, 1]
  }
  for (auto& layer : model.layers) {
    kernels::WaveNetGenLayer L;
    L.dilation = layer->dilation;
    L.conv_w = f32(layer->conv->weight, "conv.weight");
    L.conv_b = f32(layer->conv->bias, "conv.bias");
    if (layer->conv1x1c) L.cond_w = f32(layer->conv1x1c->weight, "conv1x1c.weight");
    if (layer->conv1x1g) {
      Tensor gb = contiguous(reshape((*layer->conv1x1g)(g), {streams, G}));
      impl_->gate_bias.push_back(gb);
      L.gate_bias = gb.data<float>();
    }
    L.out_w = f32(layer->conv1x1_out->weight, "conv1x1_out.weight");
    L.out_b = f32(layer->conv1x1_out->bias, "conv1x1_out.bias");
    L.skip_w = f32(layer->conv1x1_skip->weight, "conv1x1_skip.weight");
    L.skip_b = f32(layer->conv1x1_skip->bias, "conv1x1_skip.bias");
    w_.layers.push_back(L);
  }
  w_.last1_w = f32(model.last1->weight, "last_conv_layers.1.weight");
  w_.last1_b = f32(model.last1->bias, "last_conv_layers.1.bias");
  w_.last3_w = f32(model.last3->weight, "last_conv_layers.3.weight");
  w_.last3_b = f32(model.last3->bias, "last_conv_layers.3.bias");
  const kernels::WaveNetGenSplit split = options.split == WaveNetSplit::units ? kernels::WaveNetGenSplit::units
                                          : options.split == WaveNetSplit::streams
                                              ? kernels::WaveNetGenSplit::streams
                                              : kernels::WaveNetGenSplit::automatic;
  const kernels::WaveNetGenPrecision precision = options.precision == WaveNetPrecision::bf16
                                                     ? kernels::WaveNetGenPrecision::bf16
                                                     : kernels::WaveNetGenPrecision::f32;
  if (options.device.kind == Device::cuda) {
    Tensor::zeros({1}, DType::f32, options.device);  // "cuda:N is not available: ..." when it is not
    if (!backend::is_emulated(options.device)) {
#if CADENZA_HAVE_CUDA
      impl_->device = std::make_unique<kernels::cuda::WaveNetGenDevice>(w_, streams, precision, options.device.index);
      impl_->one_u.assign(static_cast<size_t>(streams), 0.0);
      impl_->one_out.assign(static_cast<size_t>(streams), 0);
      return;
#endif
    }
  }
  impl_->state = std::make_unique<kernels::WaveNetGenState>(w_, streams, options.threads, split, precision);
}

namespace {

void check_cond(const float* cond, int64_t cin) {
  if ((cond != nullptr) != (cin > 0))
    throw Error(cin > 0 ? "wavenet generation: this vocoder needs a mel for every step"
                        : "wavenet generation: this model takes no mel");
}

}  // namespace

void WaveNetGenerator::step(const int32_t* ids, const float* cond, float* logits) {
  check_cond(cond, impl_->w.cin);
#if CADENZA_HAVE_CUDA
  if (impl_->device) {
    impl_->device->run(1, ids, cond, impl_->one_u.data(), 0.0, impl_->one_out.data(), logits);
    return;
  }
#endif
  kernels::wavenet_generate_step(impl_->w, *impl_->state, ids, cond, logits);
}

void WaveNetGenerator::run(int64_t steps, const int32_t* ids, const float* cond, const double* uniforms,
                           double temperature, int32_t* out, float* logits) {
  check_cond(cond, impl_->w.cin);
#if CADENZA_HAVE_CUDA
  if (impl_->device) {
    impl_->device->run(steps, ids, cond, uniforms, temperature, out, logits);
    return;
  }
#endif
  kernels::wavenet_generate_run(impl_->w, *impl_->state, steps, ids, cond, uniforms, temperature, out, logits);
}

std::vector<std::vector<int32_t>> generate_wavenet(WaveNet& model, int64_t streams, int64_t samples,
                                                   const std::vector<double>& uniforms, double temperature,
                                                   const Tensor& mel, const std::vector<int64_t>& classes,
                                                   std::vector<float>* logits_out,
                                                   const WaveNetGenOptions& options) {
  const WaveNetConfig& c = model.config;
  if (samples < 1) throw Error("wavenet generation: samples must be >= 1");
  if (static_cast<int64_t>(uniforms.size()) != streams * samples)
    throw Error("wavenet generation: need " + std::to_string(streams * samples) + " uniforms, got " +
                std::to_string(uniforms.size()));
  if (mel.defined() != (c.cin_channels > 0))
    throw Error(c.cin_channels > 0 ? "wavenet generation: this vocoder needs a mel spectrogram"
                                   : "wavenet generation: this model takes no mel spectrogram");
  // The mel upsampled once for the whole run: [N, samples, n_mels] rows per step.
  Tensor cond;
  if (mel.defined()) {
    NoGradGuard ng;
    if (mel.dim() != 3 || mel.shape()[0] != streams || mel.shape()[1] != c.cin_channels ||
        mel.shape()[2] * c.hop_length < samples)
      throw Error("wavenet generation: mel " + mel.str() + " must be [" + std::to_string(streams) + ", " +
                  std::to_string(c.cin_channels) + ", >= " +
                  std::to_string((samples + c.hop_length - 1) / c.hop_length) + "] for " + std::to_string(samples) +
                  " samples at hop " + std::to_string(c.hop_length));
    cond = contiguous(permute(narrow(model.upsample_mel(to_dtype(mel, DType::f32)), 2, 0, samples), {2, 0, 1}));
  }
  WaveNetGenerator gen(model, streams, classes, options);
  std::vector<int32_t> first(static_cast<size_t>(streams), wavenet_silence_id(c));
  std::vector<int32_t> drawn(static_cast<size_t>(streams * samples));
  if (logits_out) logits_out->assign(static_cast<size_t>(streams * samples * c.quantize), 0.f);
  gen.run(samples, first.data(), cond.defined() ? cond.data<float>() : nullptr, uniforms.data(), temperature,
          drawn.data(), logits_out ? logits_out->data() : nullptr);
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(streams));
  for (int64_t n = 0; n < streams; ++n) out[n].assign(drawn.begin() + n * samples, drawn.begin() + (n + 1) * samples);
  return out;
}

}  // namespace cadenza::models
