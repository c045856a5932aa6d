// Engine kernel workloads for `cadenza bench`.
#include <cadenza/cadenza.h>

#include "workloads.h"

namespace cadenza::cli {

static Workload matmul_workload(const std::string& name, int64_t M, int64_t K, int64_t N) {
  Workload w;
  w.name = name;
  w.description = "f32 matmul [" + std::to_string(M) + "x" + std::to_string(K) + "] @ [" +
                  std::to_string(K) + "x" + std::to_string(N) + "]";
  w.unit = "matmul";
  w.throughput_unit = "GFLOP/s";
  w.work_per_unit = 2.0 * M * N * K;
  w.throughput_scale = 1e9;
  w.prepare = [M, K, N] {
    Generator g(1);
    Tensor a = randn({M, K}, DType::f32, &g), b = randn({K, N}, DType::f32, &g);
    return std::function<void()>([a, b] { matmul(a, b); });
  };
  return w;
}

std::vector<Workload> engine_workloads() {
  std::vector<Workload> out;
  out.push_back(matmul_workload("matmul_1024", 1024, 1024, 1024));
  out.push_back(matmul_workload("matmul_lstm", 32, 512, 2048));
  Workload add;
  add.name = "add_16m";
  add.description = "f32 add of two contiguous 16M-element tensors";
  add.unit = "add";
  add.throughput_unit = "GB/s";
  add.work_per_unit = 12.0 * (1 << 24);
  add.throughput_scale = 1e9;
  add.prepare = [] {
    Tensor a = randn({1 << 24}), b = randn({1 << 24});
    return std::function<void()>([a, b] { cadenza::add(a, b); });
  };
  out.push_back(add);
  return out;
}

}  // namespace cadenza::cli
