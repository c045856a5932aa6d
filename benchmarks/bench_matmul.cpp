// GEMM through the engine against raw Eigen on the same shapes: 1024^3 and
// the LSTM recurrent shape (32x512 @ 512x2048). Correctness is checked
// before timing. Figures: GFLOP/s (counter "GFLOPS").
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cmath>
#include <stdexcept>

#include <cadenza/cadenza.h>

using namespace cadenza;

static void check_engine_matches_eigen(int64_t M, int64_t K, int64_t N) {
  Generator g(1);
  Tensor a = randn({M, K}, DType::f32, &g), b = randn({K, N}, DType::f32, &g);
  Tensor c = matmul(a, b);
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const Mat> ea(a.data<float>(), M, K), eb(b.data<float>(), K, N);
  Mat ec = ea * eb;
  const float* pc = c.data<float>();
  for (int64_t i = 0; i < M * N; i += 97)
    if (std::fabs(pc[i] - ec.data()[i]) > 1e-3f * (1 + std::fabs(ec.data()[i])))
      throw std::runtime_error("engine matmul disagrees with Eigen");
}

static void BM_engine_matmul(benchmark::State& st) {
  int64_t M = st.range(0), K = st.range(1), N = st.range(2);
  check_engine_matches_eigen(M, K, N);
  Generator g(2);
  Tensor a = randn({M, K}, DType::f32, &g), b = randn({K, N}, DType::f32, &g);
  for (auto _ : st) {
    Tensor c = matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate,
                                             benchmark::Counter::kIs1000);
  st.counters["threads"] = get_num_threads();
}

static void BM_eigen_matmul(benchmark::State& st) {
  int64_t M = st.range(0), K = st.range(1), N = st.range(2);
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Mat a = Mat::Random(M, K), b = Mat::Random(K, N), c(M, N);
  for (auto _ : st) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
  }
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate,
                                             benchmark::Counter::kIs1000);
}

// The backward of a linear layer reads a transposed operand: no copy expected.
static void BM_engine_matmul_transposed_b(benchmark::State& st) {
  int64_t M = st.range(0), K = st.range(1), N = st.range(2);
  Generator g(3);
  Tensor a = randn({M, K}, DType::f32, &g), bt = randn({N, K}, DType::f32, &g);
  for (auto _ : st) {
    Tensor c = matmul(a, bt.transpose(0, 1));
    benchmark::DoNotOptimize(c.raw_data());
  }
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate,
                                             benchmark::Counter::kIs1000);
}

BENCHMARK(BM_engine_matmul)->Args({1024, 1024, 1024})->Args({32, 512, 2048})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_eigen_matmul)->Args({1024, 1024, 1024})->Args({32, 512, 2048})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_engine_matmul_transposed_b)->Args({1024, 1024, 1024})->Args({32, 512, 2048})->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
