#include "models/lstm_workloads.h"

#include <cmath>

#include <cadenza/config.h>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/optim.h"
#include "models/decoder.h"
#if CADENZA_HAVE_CUDA
#include "kernels/cuda/decoder.h"
#endif

namespace cadenza::models {

SequenceModelConfig w1_config() {
  SequenceModelConfig c;
  c.vocab = "performance";
  c.vocab_size = 388;
  c.embed = 256;
  c.hidden = 512;
  c.layers = 2;
  c.cell = "lstm";
  return c;
}

std::function<void()> make_w1_step(uint64_t seed, GradSync sync) {
  manual_seed(seed);
  auto model = std::make_shared<SequenceModel>(w1_config());
  auto opt = std::make_shared<optim::Adam>(model->parameters(), 1e-3);
  Generator g(seed);
  Tensor inp = randint(0, 388, {32, 128}, &g), tgt = randint(0, 388, {32, 128}, &g);
  return [model, opt, inp, tgt, sync] {
    opt->zero_grad();
    Tensor logits = model->forward_tokens(inp);
    Tensor loss = cross_entropy(reshape(logits, {kW1Tokens, 388}), reshape(tgt, {kW1Tokens}));
    if (sync.before_backward) sync.before_backward(opt->params(), loss);
    loss.backward();
    if (sync.after_backward) sync.after_backward(opt->params());
    optim::clip_grad_norm(opt->params(), 1.0);
    opt->step();
  };
}

std::vector<int32_t> generate(SequenceModel& model, int64_t tokens, int32_t first,
                              const std::function<double()>& u, double temperature, int64_t top_k,
                              double top_p, const std::vector<int32_t>& primer) {
  const Device device = model.embedding->weight.device();
  if (device == Device{}) {
    Decoder decoder(model);
    return decoder.generate(tokens, first, u, temperature, top_k, top_p, primer);
  }
#if CADENZA_HAVE_CUDA
  // An LSTM on a GPU: the persistent decoder kernel, one launch for every
  // token, with the Decoder's snapshot of the weights (when its plan fits;
  // a GRU, or a layer too wide, steps the modules below).
  const kmath::dec::Dims dims{model.config.vocab_size, model.config.hidden, model.config.layers};
  if (model.config.cell == "lstm" && !backend::is_emulated(device) &&
      kernels::cuda::DecoderDevice::plan_for(dims, device.index).fits) {
    Decoder snapshot(model);
    kmath::dec::Weights w;
    snapshot.weights(&w);
    kernels::cuda::DecoderDevice gpu(w, device.index);
    std::vector<double> us(static_cast<size_t>(std::max<int64_t>(0, tokens)));
    for (double& v : us) v = u();
    return gpu.generate(tokens, first, us, temperature, top_k, top_p, primer);
  }
#endif
  NoGradGuard ng;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t V = model.config.vocab_size;
  auto check = [&](int32_t t) {
    if (t < 0 || t >= V)
      throw Error("generate: token " + std::to_string(t) + " is outside the vocabulary [0, " + std::to_string(V) +
                  ")");
  };
  for (int32_t t : primer) check(t);
  int32_t token = primer.empty() ? first : primer.back();
  check(token);
  auto ids = [&](const int32_t* p, int64_t n) {
    Tensor t = Tensor::empty({1, n}, DType::i64);
    for (int64_t i = 0; i < n; ++i) t.data<int64_t>()[i] = p[i];
    return t.to(device);
  };
  RecurrentState state;
  if (primer.size() > 1) model.forward_tokens(ids(primer.data(), static_cast<int64_t>(primer.size()) - 1), &state);
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(0, tokens)));
  for (int64_t i = 0; i < tokens; ++i) {
    Tensor logits = model.forward_tokens(ids(&token, 1), &state).to(Device{}).contiguous();  // [1, 1, V]
    token = static_cast<int32_t>(sample_token(logits.data<float>(), V, temperature, top_k, top_p, u()));
    out.push_back(token);
  }
  if (was_training) model.train();
  return out;
}

std::function<void()> make_w4_sample(uint64_t seed) {
  manual_seed(seed);
  auto model = std::make_shared<SequenceModel>(w1_config());
  auto gen = std::make_shared<Generator>(seed);
  return [model, gen] {
    generate(*model, kW4Tokens, 0, [gen] { return uniform_double(gen.get()); });
  };
}

std::function<void()> make_k2_layer(int64_t batch, uint64_t seed) {
  Generator g(seed);
  const int64_t T = 128, I = 512, H = 512;
  double bound = 1.0 / std::sqrt(512.0);
  auto make = [&](Shape s) {
    Tensor t = rand(s, DType::f32, &g) * (2 * bound) - bound;
    t = t.detach();
    t.requires_grad_(true);
    return t;
  };
  Tensor x = make({T, batch, I}), wi = make({4 * H, I}), wh = make({4 * H, H}), bi = make({4 * H}),
         bh = make({4 * H});
  Tensor gout = randn({T + 1, batch, H}, DType::f32, &g);
  return [=] {
    Tensor y = lstm_layer(x, Tensor(), Tensor(), wi, wh, bi, bh);
    y.backward(gout);
    for (const Tensor& p : {x, wi, wh, bi, bh}) p.zero_grad();
  };
}

double k2_flops(int64_t batch) {
  const double T = 128, I = 512, H = 512;
  double fwd = 2 * T * batch * (I + H) * 4 * H;
  return 3 * fwd;
}

}  // namespace cadenza::models
