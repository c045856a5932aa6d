// Elementwise kernels in GB/s (bytes read + written per second): contiguous
// add, broadcast add, exp, and a strided (transposed) add.
#include <benchmark/benchmark.h>

#include <cadenza/cadenza.h>

using namespace cadenza;

static void set_bytes(benchmark::State& st, double bytes_per_iter) {
  st.counters["GBps"] = benchmark::Counter(bytes_per_iter, benchmark::Counter::kIsIterationInvariantRate,
                                           benchmark::Counter::kIs1000);
  st.counters["GBps"].value /= 1e9;
}

static void BM_add_contiguous(benchmark::State& st) {
  int64_t n = st.range(0);
  Tensor a = randn({n}), b = randn({n});
  for (auto _ : st) {
    Tensor c = add(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_bytes(st, 12.0 * n);
}

static void BM_add_broadcast_row(benchmark::State& st) {
  int64_t n = st.range(0);
  Tensor a = randn({n / 1024, 1024}), b = randn({1024});
  for (auto _ : st) {
    Tensor c = add(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_bytes(st, 8.0 * n);
}

static void BM_exp(benchmark::State& st) {
  int64_t n = st.range(0);
  Tensor a = randn({n});
  for (auto _ : st) {
    Tensor c = exp(a);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_bytes(st, 8.0 * n);
}

static void BM_add_transposed(benchmark::State& st) {
  int64_t n = st.range(0);
  Tensor a = randn({1024, n / 1024}), b = randn({n / 1024, 1024});
  for (auto _ : st) {
    Tensor c = add(a, b.transpose(0, 1));
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_bytes(st, 12.0 * n);
}

BENCHMARK(BM_add_contiguous)->Arg(1 << 24)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_add_broadcast_row)->Arg(1 << 24)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_exp)->Arg(1 << 24)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_add_transposed)->Arg(1 << 24)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
