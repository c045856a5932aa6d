#pragma once
// Named benchmark workloads for `cadenza bench`. A workload prepares its
// inputs once and returns a closure that runs one unit (a matmul, a training
// step, ...); the runner times it.
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/lstm_workloads.h"

namespace cadenza::cli {

// Under mpirun, the training-step workloads (W1, W2) average their
// gradients over the ranks with these calls around backward, as data-
// parallel training does; empty in one process.
models::GradSync& bench_grad_sync();

struct Workload {
  std::string name;
  std::string description;
  std::string unit;             // what one run is: "matmul", "step", "token"
  std::string throughput_unit;  // "GFLOP/s", "tokens/s", "GB/s"
  double work_per_unit;         // throughput numerator for one run (FLOP, tokens, bytes)
  double throughput_scale;      // divide work/s by this (1e9 for GFLOP/s and GB/s)
  std::function<std::function<void()>()> prepare;
};

std::vector<Workload> engine_workloads();  // matmul and elementwise kernels
std::vector<Workload> lstm_workloads();    // W1, W4, K2
std::vector<Workload> wavenet_workloads(); // W2, W3, W3x8
std::vector<Workload> musicgan_workloads(); // W5

}  // namespace cadenza::cli
