// The f32 panel GEMM (kernels/cpu/panel_gemm.h) against a double-precision
// loop, over the shapes where its blocking has edges: partial panels, row
// counts that are not a multiple of the micro-tile, several depth blocks,
// padded leading dimensions, both transposes, alpha and beta.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "engine/threading.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/panel_gemm.h"

using namespace cadenza;

namespace {

struct Case {
  int64_t M, N, K;
};

double max_rel_error(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, float beta, int threads,
                     bool through_gemm) {
  std::mt19937 rng(static_cast<uint32_t>(M * 7919 + N * 31 + K + ta * 2 + tb));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
  std::vector<float> A((ta ? K : M) * lda), B((tb ? N : K) * ldb), C(M * ldc);
  for (auto& v : A) v = u(rng);
  for (auto& v : B) v = u(rng);
  for (auto& v : C) v = u(rng);
  std::vector<float> C0 = C;
  if (through_gemm) {
    int before = get_num_threads();
    set_num_threads(threads);
    kernels::gemm(DType::f32, ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
    set_num_threads(before);
  } else {
    kernels::panel_sgemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc, threads);
  }
  double worst = 0;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        double a = ta ? A[k * lda + m] : A[m * lda + k];
        double b = tb ? B[n * ldb + k] : B[k * ldb + n];
        acc += a * b;
        mag += std::fabs(a * b);
      }
      double want = alpha * acc + beta * C0[m * ldc + n];
      double scale = std::fabs(alpha) * mag + std::fabs(beta * C0[m * ldc + n]) + 1e-30;
      worst = std::max(worst, std::fabs(C[m * ldc + n] - want) / scale);
    }
    // Padding between rows is never written.
    for (int64_t n = N; n < ldc && m + 1 < M; ++n) REQUIRE(C[m * ldc + n] == C0[m * ldc + n]);
  }
  return worst;
}

}  // namespace

TEST_CASE("panel gemm: matches a double loop on edge shapes, transposes, alpha and beta", "[kernels][gemm]") {
  const std::vector<Case> cases = {{16, 1, 1},   {17, 5, 7},     {23, 31, 64},  {9, 32, 33},
                                   {64, 33, 513}, {200, 100, 1100}, {1, 70, 40}, {5, 64, 600}};
  for (const Case& c : cases)
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (float beta : {0.f, 1.f, 0.3f})
          for (int threads : {1, 2, 3}) {
            INFO("M=" << c.M << " N=" << c.N << " K=" << c.K << " ta=" << ta << " tb=" << tb << " beta=" << beta
                      << " threads=" << threads);
            REQUIRE(max_rel_error(ta, tb, c.M, c.N, c.K, beta == 0.3f ? -0.5f : 1.f, beta, threads, false) < 1e-5);
          }
}

TEST_CASE("panel gemm: kernels::gemm routes f32 through it and agrees", "[kernels][gemm]") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      INFO("ta=" << ta << " tb=" << tb);
      REQUIRE(max_rel_error(ta, tb, 96, 80, 700, 1.f, 0.f, 2, true) < 1e-5);
      REQUIRE(max_rel_error(ta, tb, 3, 300, 70, 1.f, 1.f, 2, true) < 1e-5);  // few rows: the Eigen path
    }
}

TEST_CASE("panel gemm: packed panels of a weight give the recurrent product", "[kernels][gemm]") {
  // Two column segments of W^T written to separate places of C, as the LSTM
  // step packs each gate's slice of units.
  const int64_t H = 45, K = 37, M = 11, ldc = 2 * H + 4;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> W(2 * H * K), A(M * K), C(M * ldc, 0.5f);
  for (auto& v : W) v = u(rng);
  for (auto& v : A) v = u(rng);
  kernels::PanelMatrix P;
  P.reset(K);
  kernels::pack_panels(P, W.data(), K, true, 3, 20, 3);          // rows 3..22 -> columns 3..22
  kernels::pack_panels(P, W.data(), K, true, H + 3, 20, H + 3);  // rows H+3.. -> columns H+3..
  REQUIRE(P.panels() == 2 * ((20 + kernels::kPanelWidth - 1) / kernels::kPanelWidth));
  kernels::panel_gemm(M, A.data(), K, P, C.data(), ldc, true);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < ldc; ++j) {
      bool packed = (j >= 3 && j < 23) || (j >= H + 3 && j < H + 23);
      double want = 0.5;
      if (packed)
        for (int64_t k = 0; k < K; ++k) want += double(A[m * K + k]) * W[j * K + k];
      REQUIRE(C[m * ldc + j] == Approx(want).margin(1e-5));
    }
}
