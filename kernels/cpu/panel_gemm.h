#pragma once
// A small-M f32 GEMM against a weight packed once into column panels.
//
// The recurrent GEMM of an RNN step is [B, K] x [K, N] with B (the batch) of
// 1 to a few dozen rows, repeated for every time step with the same weight.
// A general GEMM repacks the weight on every call (Eigen's gemm_pack_rhs was
// 12% of an LSTM training step), so here the weight is packed once per layer
// call into panels of kPanelWidth columns stored k-major, and each step only
// streams through them with a register-blocked micro-kernel.
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cpu/simd.h"

namespace cadenza::kernels {

constexpr int kPanelVec = kSimdLanes;  // floats per SIMD register
constexpr int kPanelWidth = 2 * kPanelVec;  // columns per panel

struct PanelMatrix {
  int64_t K = 0;
  // Panel p holds K * kPanelWidth floats at data + p * K * kPanelWidth:
  // row k of its columns at offset k * kPanelWidth, zero past `width[p]`.
  std::vector<int64_t> c_col;  // first output column of each panel
  std::vector<int> width;      // valid columns of each panel (1..kPanelWidth)
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float[], Free> data;  // 64-byte aligned
  int64_t capacity = 0;  // floats allocated

  int64_t panels() const { return static_cast<int64_t>(width.size()); }
  const float* panel(int64_t p) const { return data.get() + p * K * kPanelWidth; }
  // Drops the panels (keeping the allocation) and sets the depth K.
  void reset(int64_t k);
};

// Appends panels for columns [n0, n0 + n) of op(W), a K x N matrix with
// op(W)[k][j] = trans ? W[j * ldw + k] : W[k * ldw + j]; output column
// c_col0 + (j - n0) receives column j. Panels never span two calls.
// Each value is multiplied by `scale` on the way.
void pack_panels(PanelMatrix& P, const float* W, int64_t ldw, bool trans, int64_t n0, int64_t n,
                 int64_t c_col0, float scale = 1.f);

// C[m, c] (+)= sum_k A[m * lda + k] * op(W)[k][j] for m < M and every packed
// column j (at output column c), accumulating onto C when `accumulate`.
void panel_gemm(int64_t M, const float* A, int64_t lda, const PanelMatrix& P, float* C, int64_t ldc,
                bool accumulate);

// The whole f32 GEMM C = alpha op(A) op(B) + beta C (row-major, op = transpose
// when ta / tb) on `threads` threads: op(B) is packed into panels per depth
// block, and the threads split the panels (or the rows when there are few).
void panel_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads);

}  // namespace cadenza::kernels
