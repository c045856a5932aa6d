// LSTM workloads (W1, W4, K2 of DESIGN.md) for `cadenza bench`.
#include "models/lstm_workloads.h"
#include "workloads.h"

namespace cadenza::cli {

std::vector<Workload> lstm_workloads() {
  std::vector<Workload> out;
  Workload w1;
  w1.name = "W1";
  w1.description = "LSTM training step: vocab 388, embed 256, 2x512, batch 32, seq 128, CE, Adam";
  w1.unit = "step";
  w1.throughput_unit = "tokens/s";
  w1.work_per_unit = static_cast<double>(models::kW1Tokens);
  w1.throughput_scale = 1;
  w1.prepare = [] { return models::make_w1_step(1, bench_grad_sync()); };
  out.push_back(w1);
  Workload w4;
  w4.name = "W4";
  w4.description = "LSTM sampling: the W1 model, batch 1, 2000 tokens";
  w4.unit = "2000 tokens";
  w4.throughput_unit = "tokens/s";
  w4.work_per_unit = static_cast<double>(models::kW4Tokens);
  w4.throughput_scale = 1;
  w4.prepare = [] { return models::make_w4_sample(); };
  out.push_back(w4);
  for (int64_t b : {1, 8, 64}) {
    Workload k2;
    k2.name = "K2_b" + std::to_string(b);
    k2.description = "LSTM layer forward+backward: hidden 512, input 512, seq 128, batch " + std::to_string(b);
    k2.unit = "forward+backward";
    k2.throughput_unit = "GFLOP/s";
    k2.work_per_unit = models::k2_flops(b);
    k2.throughput_scale = 1e9;
    k2.prepare = [b] { return models::make_k2_layer(b); };
    out.push_back(k2);
  }
  return out;
}

}  // namespace cadenza::cli
