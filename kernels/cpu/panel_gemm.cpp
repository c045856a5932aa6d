#include "kernels/cpu/panel_gemm.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <new>
#include <omp.h>
#include <utility>

namespace cadenza::kernels {
namespace {

using vec = fvec;  // kernels/cpu/simd.h

// Rows of the micro-tile: 2 * MR accumulators plus the two panel vectors and
// one broadcast must fit the register file (32 registers with AVX-512, 16
// with AVX2).
#if defined(__AVX512F__)
constexpr int kMR = 8;
#else
constexpr int kMR = 6;
#endif

// C[0..R, 0..width) (+)= op(A)[0..R, 0..K) x panel, R <= kMR rows, where
// op(A)[r][k] = AT ? A[k * lda + r] : A[r * lda + k].
template <int R, bool AT>
void micro(int64_t K, const float* __restrict A, int64_t lda, const float* __restrict B, float* C,
           int64_t ldc, int width, bool accumulate) {
  vec c0[R], c1[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) c0[r] = c1[r] = vec{};
  const float* a[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) a[r] = AT ? A + r : A + r * lda;
  for (int64_t k = 0; k < K; ++k) {
    const vec b0 = *reinterpret_cast<const vec*>(B + k * kPanelWidth);
    const vec b1 = *reinterpret_cast<const vec*>(B + k * kPanelWidth + kPanelVec);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const float s = AT ? a[r][k * lda] : a[r][k];
      c0[r] += s * b0;
      c1[r] += s * b1;
    }
  }
  if (width == kPanelWidth) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      float* c = C + r * ldc;
      if (accumulate) {
        add_u(c, c0[r]);
        add_u(c + kPanelVec, c1[r]);
      } else {
        store_u(c, c0[r]);
        store_u(c + kPanelVec, c1[r]);
      }
    }
    return;
  }
  for (int r = 0; r < R; ++r) {
    alignas(64) float t[kPanelWidth];
    store_u(t, c0[r]);
    store_u(t + kPanelVec, c1[r]);
    float* c = C + r * ldc;
    for (int j = 0; j < width; ++j) c[j] = accumulate ? c[j] + t[j] : t[j];
  }
}

using MicroFn = void (*)(int64_t, const float*, int64_t, const float*, float*, int64_t, int, bool);

template <bool AT, int... Rs>
constexpr auto micro_table(std::integer_sequence<int, Rs...>) {
  return std::array<MicroFn, sizeof...(Rs)>{&micro<Rs + 1, AT>...};
}
constexpr auto kMicro = micro_table<false>(std::make_integer_sequence<int, kMR>{});
constexpr auto kMicroT = micro_table<true>(std::make_integer_sequence<int, kMR>{});

// Rows [m0, m1) of C against every panel of P, reading A (not transposed) in
// place at depth k0.
void panel_rows(int64_t m0, int64_t m1, const float* A, int64_t lda, int64_t k0, const PanelMatrix& P,
                float* C, int64_t ldc, bool accumulate) {
  for (int64_t p = 0; p < P.panels(); ++p) {
    const float* B = P.panel(p);
    float* Cp = C + P.c_col[p];
    for (int64_t m = m0; m < m1; m += kMR) {
      const int rows = static_cast<int>(std::min<int64_t>(kMR, m1 - m));
      kMicro[rows - 1](P.K, A + m * lda + k0, lda, B, Cp + m * ldc, ldc, P.width[p], accumulate);
    }
  }
}

// Tiles are padded by one cache line so that the kMR tiles written side by
// side do not fall into the same cache sets.
inline int64_t a_tile_stride(int64_t kn) { return kn * kMR + 16; }

void pack_a_transposed(const float* A, int64_t lda, int64_t m0, int64_t m1, int64_t k0, int64_t kn,
                       std::vector<float>& out) {
  const int64_t tiles = (m1 - m0 + kMR - 1) / kMR, full = (m1 - m0) / kMR;
  const int64_t stride = a_tile_stride(kn);
  out.resize(tiles * stride);
  float* dst = out.data();
  // k outermost: each source row is read once, front to back.
  for (int64_t k = 0; k < kn; ++k) {
    const float* src = A + (k0 + k) * lda + m0;
    for (int64_t t = 0; t < full; ++t) std::memcpy(dst + t * stride + k * kMR, src + t * kMR, kMR * sizeof(float));
    if (full < tiles) {
      const int64_t rows = (m1 - m0) - full * kMR;
      float* d = dst + full * stride + k * kMR;
      for (int64_t i = 0; i < rows; ++i) d[i] = src[full * kMR + i];
      for (int64_t i = rows; i < kMR; ++i) d[i] = 0.f;
    }
  }
}

// Rows [m0, m1) of C against every panel of P, from op(A) packed by
// pack_a_transposed.
void panel_rows_packed(int64_t m0, int64_t m1, const float* Ap, const PanelMatrix& P, float* C, int64_t ldc,
                       bool accumulate) {
  for (int64_t p = 0; p < P.panels(); ++p) {
    const float* B = P.panel(p);
    float* Cp = C + P.c_col[p];
    for (int64_t m = m0, t = 0; m < m1; m += kMR, ++t) {
      const int rows = static_cast<int>(std::min<int64_t>(kMR, m1 - m));
      kMicroT[rows - 1](P.K, Ap + t * a_tile_stride(P.K), kMR, B, Cp + m * ldc, ldc, P.width[p], accumulate);
    }
  }
}

}  // namespace

void PanelMatrix::Free::operator()(float* p) const { std::free(p); }

void PanelMatrix::reset(int64_t k) {
  K = k;
  c_col.clear();
  width.clear();
}

void pack_panels(PanelMatrix& P, const float* W, int64_t ldw, bool trans, int64_t n0, int64_t n,
                 int64_t c_col0, float scale) {
  const int64_t K = P.K;
  const int64_t first = P.panels(), added = (n + kPanelWidth - 1) / kPanelWidth;
  const int64_t need = (first + added) * K * kPanelWidth;
  if (need > P.capacity) {
    int64_t cap = std::max<int64_t>(need, 2 * P.capacity);
    size_t bytes = (static_cast<size_t>(cap) * sizeof(float) + 63) / 64 * 64;
    float* fresh = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!fresh) throw std::bad_alloc();
    if (P.data) std::memcpy(fresh, P.data.get(), first * K * kPanelWidth * sizeof(float));
    P.data.reset(fresh);
    P.capacity = cap;
  }
  for (int64_t q = 0; q < added; ++q) {
    const int64_t j0 = n0 + q * kPanelWidth;
    const int w = static_cast<int>(std::min<int64_t>(kPanelWidth, n0 + n - j0));
    float* dst = P.data.get() + (first + q) * K * kPanelWidth;
    if (trans) {
      // op(W)[k][j] = W[j * ldw + k]: each source row is one column. Blocks
      // of 128 k keep the panel rows being filled (16 KB) in L1 while 512 B
      // of each source row is read; 16 k (one line per row, 32 rows at once)
      // defeated the prefetcher and slowed W1 by 15%.
      constexpr int64_t kBlock = 128;
      for (int64_t kb = 0; kb < K; kb += kBlock) {
        const int64_t ke = std::min(K, kb + kBlock);
        for (int c = 0; c < w; ++c) {
          const float* src = W + (j0 + c) * ldw;
          for (int64_t k = kb; k < ke; ++k) dst[k * kPanelWidth + c] = scale * src[k];
        }
        for (int64_t k = kb; k < ke; ++k)
          for (int c = w; c < kPanelWidth; ++c) dst[k * kPanelWidth + c] = 0.f;
      }
    } else {
      for (int64_t k = 0; k < K; ++k) {
        const float* src = W + k * ldw + j0;
        float* d = dst + k * kPanelWidth;
        if (scale == 1.f)
          std::memcpy(d, src, w * sizeof(float));
        else
          for (int c = 0; c < w; ++c) d[c] = scale * src[c];
        for (int c = w; c < kPanelWidth; ++c) d[c] = 0.f;
      }
    }
    P.c_col.push_back(c_col0 + (j0 - n0));
    P.width.push_back(w);
  }
}

void panel_gemm(int64_t M, const float* A, int64_t lda, const PanelMatrix& P, float* C, int64_t ldc,
                bool accumulate) {
  const int64_t K = P.K;
  if (K == 0) {
    if (!accumulate)
      for (int64_t p = 0; p < P.panels(); ++p)
        for (int64_t m = 0; m < M; ++m) std::memset(C + m * ldc + P.c_col[p], 0, P.width[p] * sizeof(float));
    return;
  }
  panel_rows(0, M, A, lda, 0, P, C, ldc, accumulate);
}

void panel_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads) {
  if (M <= 0 || N <= 0) return;
  if (beta != 0.f && beta != 1.f)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t j = 0; j < N; ++j) C[m * ldc + j] *= beta;
  if (K <= 0 || alpha == 0.f) {
    if (beta == 0.f)
      for (int64_t m = 0; m < M; ++m) std::memset(C + m * ldc, 0, N * sizeof(float));
    return;
  }
  // Depth blocks of at most kKc keep a panel (kKc x kPanelWidth floats, 64 KB)
  // in L2; row blocks of kMc keep that many rows of op(A) there too. A
  // transposed op(A) is packed per row block, and longer blocks read more of
  // each of its source rows at once (those rows are a page or more apart).
  constexpr int64_t kKc = 512;
  const int64_t kMc = ta ? 256 : 64;
  const int64_t kblocks = (K + kKc - 1) / kKc, kc = (K + kblocks - 1) / kblocks;
  const int64_t panels = (N + kPanelWidth - 1) / kPanelWidth;
  const int64_t mtiles = (M + kMR - 1) / kMR;
  // Threads split the panels or the rows. Each thread packs all of the
  // operand it does not split: op(B) is always packed, op(A) only when
  // transposed, so split the side whose packing would otherwise repeat.
  int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, std::max(panels, mtiles))));
  const bool split_panels = ta ? (panels >= mtiles * kMR / kPanelWidth && panels >= nt) || mtiles < nt
                               : panels >= 2 * nt || panels >= mtiles;
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num(), n_threads = omp_get_num_threads();
    int64_t q0 = 0, q1 = panels, m0 = 0, m1 = M;
    if (split_panels) {
      q0 = panels * tid / n_threads;
      q1 = panels * (tid + 1) / n_threads;
    } else {
      m0 = std::min(M, mtiles * tid / n_threads * kMR);
      m1 = std::min(M, mtiles * (tid + 1) / n_threads * kMR);
    }
    // Kept per thread between calls: a fresh multi-megabyte buffer per call
    // would be mapped and faulted in every time.
    thread_local PanelMatrix P;
    thread_local std::vector<float> Ap;
    if (q1 > q0 && m1 > m0) {
      const int64_t n0 = q0 * kPanelWidth, n = std::min(N, q1 * kPanelWidth) - n0;
      for (int64_t kb = 0; kb < kblocks; ++kb) {
        const int64_t k0 = kb * kc, kn = std::min(kc, K - k0);
        P.reset(kn);
        pack_panels(P, tb ? B + k0 : B + k0 * ldb, ldb, tb, n0, n, n0, alpha);
        const bool accumulate = kb > 0 || beta != 0.f;
        for (int64_t r = m0; r < m1; r += kMc) {
          const int64_t r1 = std::min(m1, r + kMc);
          if (ta) {
            pack_a_transposed(A, lda, r, r1, k0, kn, Ap);
            panel_rows_packed(r, r1, Ap.data(), P, C, ldc, accumulate);
          } else {
            panel_rows(r, r1, A, lda, k0, P, C, ldc, accumulate);
          }
        }
      }
    }
  }
}

}  // namespace cadenza::kernels
