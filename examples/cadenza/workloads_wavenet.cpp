// WaveNet workloads (W2, W3, W3x8 of DESIGN.md) for `cadenza bench`.
#include "engine/autograd.h"
#include "engine/optim.h"
#include "models/wavenet_generate.h"
#include "workloads.h"

namespace cadenza::cli {

namespace {

// The W2 model: 2 stacks x 10 layers (dilations 1..512), kernel 2, residual
// 64, gate 2x64, skip 256, 256 mu-law classes.
models::WaveNetConfig w2_config() {
  models::WaveNetConfig c;
  c.layers = 20;
  c.stacks = 2;
  c.kernel_size = 2;
  c.residual_channels = 64;
  c.gate_channels = 128;
  c.skip_channels = 256;
  c.quantize = 256;
  c.dropout = 0;
  return c;
}

std::function<void()> w2_step() {
  manual_seed(1);
  auto model = std::make_shared<models::WaveNet>(w2_config());
  auto opt = std::make_shared<optim::Adam>(model->parameters(), 1e-3);
  Generator g(2);
  Tensor ids = randint(0, 256, {4, 4097}, &g);
  Tensor x = contiguous(narrow(ids, 1, 0, 4096)), y = contiguous(narrow(ids, 1, 1, 4096));
  auto sync = bench_grad_sync();
  return [model, opt, x, y, sync] {
    opt->zero_grad();
    Tensor loss = cross_entropy(model->forward_audio(x), y);
    if (sync.before_backward) sync.before_backward(opt->params(), loss);
    loss.backward();
    if (sync.after_backward) sync.after_backward(opt->params());
    optim::clip_grad_norm(opt->params(), 1.0);
    opt->step();
  };
}

std::function<void()> w3_generate(int64_t streams, models::WaveNetPrecision precision) {
  manual_seed(1);
  auto model = std::make_shared<models::WaveNet>(w2_config());
  model->eval();
  Generator g(3);
  auto u = std::make_shared<std::vector<double>>(static_cast<size_t>(streams * 16000));
  for (double& v : *u) v = uniform_double(&g);
  models::WaveNetGenOptions options;
  options.precision = precision;
  return [model, u, streams, options] {
    models::generate_wavenet(*model, streams, 16000, *u, 1.0, Tensor(), {}, nullptr, options);
  };
}

}  // namespace

std::vector<Workload> wavenet_workloads() {
  std::vector<Workload> out;
  Workload w2;
  w2.name = "W2";
  w2.description = "WaveNet training step: 2x10 layers, kernel 2, residual 64, gate 128, skip 256, 256 classes, "
                   "batch 4 x 4096 samples, Adam";
  w2.unit = "step";
  w2.throughput_unit = "samples/s";
  w2.work_per_unit = 4.0 * 4096;
  w2.throughput_scale = 1;
  w2.prepare = w2_step;
  out.push_back(w2);
  for (auto precision : {models::WaveNetPrecision::f32, models::WaveNetPrecision::bf16})
    for (int64_t streams : {1, 8}) {
      const bool bf16 = precision == models::WaveNetPrecision::bf16;
      Workload w3;
      w3.name = std::string(streams == 1 ? "W3" : "W3x8") + (bf16 ? "_bf16" : "");
      w3.description = "WaveNet generation: the W2 model, " + std::to_string(streams) +
                       " stream(s) x 16000 samples, cached (fast) generation" +
                       (bf16 ? ", bf16 weights and f32 sums" : "");
      w3.unit = "16000 samples x " + std::to_string(streams);
      w3.throughput_unit = "samples/s";
      w3.work_per_unit = 16000.0 * streams;
      w3.throughput_scale = 1;
      w3.prepare = [streams, precision] { return w3_generate(streams, precision); };
      out.push_back(w3);
    }
  return out;
}

}  // namespace cadenza::cli
