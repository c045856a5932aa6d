// The LSTM workloads W1 (training step), W4 (sampling) and K2 (one layer
// forward + backward) of DESIGN.md, the same code `cadenza bench` runs.
// benchmarks/compare_lstm.sh times PyTorch on the same shapes.
#include <benchmark/benchmark.h>

#include "engine/threading.h"
#include "models/lstm_workloads.h"

using namespace cadenza;

static void BM_W1_lstm_train_step(benchmark::State& st) {
  auto step = models::make_w1_step();
  step();
  for (auto _ : st) step();
  st.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(models::kW1Tokens), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["threads"] = get_num_threads();
}

static void BM_W4_lstm_sample(benchmark::State& st) {
  auto sample = models::make_w4_sample();
  for (auto _ : st) sample();
  st.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(models::kW4Tokens), benchmark::Counter::kIsIterationInvariantRate);
}

static void BM_K2_lstm_layer(benchmark::State& st) {
  int64_t batch = st.range(0);
  auto run = models::make_k2_layer(batch);
  run();
  for (auto _ : st) run();
  st.counters["GFLOPS"] = benchmark::Counter(models::k2_flops(batch) / 1e9,
                                             benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_W1_lstm_train_step)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5);
BENCHMARK(BM_W4_lstm_sample)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);
BENCHMARK(BM_K2_lstm_layer)->Arg(1)->Arg(8)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);

BENCHMARK_MAIN();
