// Engine kernel workloads for `cadenza bench`.
#include <cadenza/cadenza.h>

#include "commands.h"
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

// K1 of DESIGN.md: a dilated causal conv1d (kernel 2) forward and backward
// (input, weight and bias gradients), batch 8, 64 -> 128 channels, 16384 steps.
static Workload conv1d_workload(int64_t dilation) {
  const int64_t B = 8, Cin = 64, Cout = 128, T = 16384, K = 2;
  Workload w;
  w.name = "K1_d" + std::to_string(dilation);
  w.description = "conv1d forward+backward, batch 8, 64 -> 128 channels, length 16384, kernel 2, dilation " +
                  std::to_string(dilation) + " (causal)";
  w.unit = "forward+backward";
  w.throughput_unit = "GFLOP/s";
  // Forward, input gradient and weight gradient: one B*Cout*Cin*K*T multiply-add each
  // (the taps' work that padding skips is not counted).
  w.work_per_unit = 3.0 * 2.0 * B * Cout * Cin * (K * T - dilation);
  w.throughput_scale = 1e9;
  w.prepare = [=] {
    Generator g(1);
    Tensor x = randn({B, Cin, T}, DType::f32, &g), wt = randn({Cout, Cin, K}, DType::f32, &g);
    Tensor bias = randn({Cout}, DType::f32, &g), gy = randn({B, Cout, T}, DType::f32, &g);
    for (Tensor* t : {&x, &wt, &bias}) t->requires_grad_(true);
    return std::function<void()>([=] {
      Tensor y = conv1d(x, wt, bias, dilation, dilation * (K - 1), 0);
      grad({y}, {x, wt, bias}, {gy});
    });
  };
  return w;
}

// MusicGAN's pitch convolutions on a [batch 16, 64 channels, 4 bars, 16 steps,
// 84 pitches] volume, forward and backward (input, weight and bias
// gradients): conv3d with kernel == stride (1, 1, 12) reads octaves
// (64 -> 128 channels), and conv_transpose3d writes them back (64 -> 64).
static Workload conv3d_workload(bool transposed) {
  const int64_t B = 16, C = 64, bars = 4, steps = 16, pitches = 84, octave = 12;
  const int64_t Cout = transposed ? 64 : 128;
  Workload w;
  w.name = transposed ? "conv_transpose3d" : "conv3d";
  w.description = transposed ? "conv_transpose3d forward+backward, [16, 64, 4, 16, 7] -> [16, 64, 4, 16, 84], "
                               "kernel = stride (1, 1, 12)"
                             : "conv3d forward+backward, [16, 64, 4, 16, 84] -> [16, 128, 4, 16, 7], "
                               "kernel = stride (1, 1, 12)";
  w.unit = "forward+backward";
  w.throughput_unit = "GFLOP/s";
  // Forward, input gradient and weight gradient: one multiply-add per
  // (sample, in channel, out channel, octave column, pitch) each.
  w.work_per_unit = 3.0 * 2.0 * B * C * Cout * bars * steps * pitches;
  w.throughput_scale = 1e9;
  w.prepare = [=] {
    Generator g(1);
    const Shape xs = transposed ? Shape{B, C, bars, steps, pitches / octave} : Shape{B, C, bars, steps, pitches};
    const Shape ws = transposed ? Shape{C, Cout, 1, 1, octave} : Shape{Cout, C, 1, 1, octave};
    Tensor x = randn(xs, DType::f32, &g), wt = randn(ws, DType::f32, &g) * 0.05;
    Tensor bias = randn({Cout}, DType::f32, &g);
    for (Tensor* t : {&x, &wt, &bias}) t->requires_grad_(true);
    const Shape ys = transposed ? Shape{B, Cout, bars, steps, pitches} : Shape{B, Cout, bars, steps, pitches / octave};
    Tensor gy = randn(ys, DType::f32, &g);
    return std::function<void()>([=] {
      Tensor y = transposed ? conv_transpose3d(x, wt, bias, {1, 1, octave}) : conv3d(x, wt, bias, {1, 1, octave});
      grad({y}, {x, wt, bias}, {gy});
    });
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
  for (int64_t d : {1, 8, 64, 512}) out.push_back(conv1d_workload(d));
  // The data-parallel all-reduce alone, at W1's gradient size (run it under
  // mpirun; in one process it copies nothing). GB/s counts the bytes each
  // rank contributes.
  Workload ar;
  ar.name = "allreduce_16MB";
  ar.description = "MPI all-reduce (sum) of 4M f32 values, W1's gradient size, after a barrier";
  ar.unit = "all-reduce";
  ar.throughput_unit = "GB/s";
  ar.work_per_unit = 4.0 * (1 << 22);
  ar.throughput_scale = 1e9;
  ar.prepare = [] {
    auto group = process_group() ? process_group() : dist::single_process();
    auto buf = std::make_shared<std::vector<float>>(size_t{1} << 22, 1.0f);
    return std::function<void()>([group, buf] {
      float sync = 0;
      group->allreduce_sum(&sync, 1, "benchmark barrier");
      group->allreduce_sum(buf->data(), static_cast<int64_t>(buf->size()), "benchmark all-reduce");
    });
  };
  out.push_back(ar);
  out.push_back(conv3d_workload(false));
  out.push_back(conv3d_workload(true));
  return out;
}

}  // namespace cadenza::cli
