#include <algorithm>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/conv1d.h"
#include "kernels/cuda/conv_common.cuh"
#include "kernels/cuda/cublas.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/scratch.h"

namespace cadenza::kernels::cuda {

namespace {

// taps[k][i] = w[i][k] for i < n = Cout * Cin: tap k as a [Cout, Cin] matrix
// (PyTorch's layout keeps one tap's weights K apart; cuBLAS needs unit
// stride along one side).
template <class T>
__global__ void pack_taps_kernel(int64_t n, int64_t K, const T* w, T* taps) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n * K;
       e += int64_t{gridDim.x} * blockDim.x)
    taps[e] = w[e % n * K + e / n];
}

// Tap k's weights as a [Cout, Cin] row-major matrix each: w itself when K is
// 1, else regrouped into `scratch`.
template <class T>
const T* taps_of(const Conv1dShape& s, const T* w, Scratch* scratch) {
  if (s.K == 1) return w;
  const int64_t n = s.Cout * s.Cin;
  pack_taps_kernel<T>
      <<<grid_for(n * s.K), kThreads, 0, current_stream()>>>(n, s.K, w, scratch->as<T>());
  CADENZA_CUDA_CHECK(cudaGetLastError());
  return scratch->as<T>();
}

size_t taps_bytes(const Conv1dShape& s, size_t elem) {
  return s.K == 1 ? 0 : static_cast<size_t>(s.Cout * s.Cin * s.K) * elem;
}

// Row-major, per batch row b and tap k with columns [t0, t1), off = k * dilation - pad_left:
//   Y_b[:, t0:t1] += W_k X_b[:, t0+off : t1+off]     ([Cout, n] = [Cout, Cin] [Cin, n])
// which column-major is Y^T = X^T W_k^T: C = Y_b (n x Cout, ld To), A = X_b
// shifted (n x Cin, ld T, op N), B = W_k (Cin x Cout, ld Cin, op N).
template <class T>
void forward(const Conv1dShape& s, const T* x, const T* w, const T* bias, T* y) {
  const char* op = "conv1d_forward";
  const int64_t total = s.B * s.Cout * s.To;
  if (total == 0) return;
  fill_bias(s.B, s.Cout, s.To, bias, y);
  if (s.Cin == 0) return;  // no terms: the bias (or zero) is the output
  Scratch scratch(taps_bytes(s, sizeof(T)), op, "regrouped weights");
  const T* taps = taps_of(s, w, &scratch);
  cublasHandle_t h = cublas_handle();
  const int cout = cublas_int(s.Cout, op, "Cout"), cin = cublas_int(s.Cin, op, "Cin"),
            batch = cublas_int(s.B, op, "B");
  const int ldx = cublas_int(s.T, op, "T"), ldy = cublas_int(s.To, op, "To");
  for (int64_t k = 0; k < s.K; ++k) {
    int64_t t0, t1;
    conv1d_tap_columns(s, k, &t0, &t1);
    if (t1 <= t0) continue;
    const int64_t off = k * s.dilation - s.pad_left;
    gemm_batched(h, CUBLAS_OP_N, CUBLAS_OP_N, cublas_int(t1 - t0, op, "columns"), cout, cin,
                 x + t0 + off, ldx, s.Cin * s.T, taps + k * s.Cout * s.Cin, cin, 0, T(1), y + t0,
                 ldy, s.Cout * s.To, batch);
  }
}

// Row-major: dX_b[:, t0+off : t1+off] += W_k^T G_b[:, t0:t1]   ([Cin, n] = [Cin, Cout] [Cout, n])
// Column-major dX^T = G^T W_k: C = dX_b shifted (n x Cin, ld T), A = G_b
// (n x Cout, ld To, op N), B = W_k stored as Cin x Cout with ld Cin, op T.
template <class T>
void backward_input(const Conv1dShape& s, const T* g, const T* w, T* dx) {
  const char* op = "conv1d_backward_input";
  const int64_t total = s.B * s.Cin * s.T;
  if (total == 0) return;
  // A tap that reaches every input column (the unshifted tap of a causal
  // convolution) writes dx first with beta = 0, so dx is not zeroed and
  // read back: one pass over dx fewer for each. (For two taps the sum is
  // the same bits either way round.)
  int64_t first = -1;
  for (int64_t k = s.K - 1; k >= 0 && first < 0 && s.Cout > 0; --k) {
    int64_t t0, t1;
    conv1d_tap_columns(s, k, &t0, &t1);
    const int64_t off = k * s.dilation - s.pad_left;
    if (t0 + off == 0 && t1 + off == s.T) first = k;
  }
  if (first < 0)
    CADENZA_CUDA_CHECK(
        cudaMemsetAsync(dx, 0, static_cast<size_t>(total) * sizeof(T), current_stream()));
  if (s.Cout == 0) return;
  Scratch scratch(taps_bytes(s, sizeof(T)), op, "regrouped weights");
  const T* taps = taps_of(s, w, &scratch);
  cublasHandle_t h = cublas_handle();
  const int cout = cublas_int(s.Cout, op, "Cout"), cin = cublas_int(s.Cin, op, "Cin"),
            batch = cublas_int(s.B, op, "B");
  const int ldx = cublas_int(s.T, op, "T"), ldg = cublas_int(s.To, op, "To");
  auto add_tap = [&](int64_t k, T beta) {
    int64_t t0, t1;
    conv1d_tap_columns(s, k, &t0, &t1);
    if (t1 <= t0) return;
    const int64_t off = k * s.dilation - s.pad_left;
    gemm_batched(h, CUBLAS_OP_N, CUBLAS_OP_T, cublas_int(t1 - t0, op, "columns"), cin, cout, g + t0,
                 ldg, s.Cout * s.To, taps + k * s.Cout * s.Cin, cin, 0, beta, dx + t0 + off, ldx,
                 s.Cin * s.T, batch);
  };
  // The covering tap first, then the others in order.
  if (first >= 0) add_tap(first, T(0));
  for (int64_t k = 0; k < s.K; ++k)
    if (k != first) add_tap(k, T(1));
}

// Row-major: dW_k = sum_b G_b[:, t0:t1] X_b[:, t0+off : t1+off]^T   ([Cout, Cin] = [Cout, n] [n, Cin])
// Column-major dW_k^T = X_b G_b^T: C = P_b (Cin x Cout, ld Cin), A = X_b
// shifted stored as n x Cin with ld T, op T; B = G_b (n x Cout, ld To, op N).
// One strided-batched GEMM makes every row's product P_b (a GEMM per row
// gave a device of 132 multiprocessors the few tiles of one [Cout, Cin]
// result at a time), then sum_products_kernel adds them in row order into dw
// (rows in chunks when the products would pass 64 MB).
template <class T>
void backward_weight(const Conv1dShape& s, const T* g, const T* x, T* dw) {
  const char* op = "conv1d_backward_weight";
  const int64_t n = s.Cout * s.Cin;
  if (n * s.K == 0) return;
  const int64_t rows = wgrad_rows(s.B, n * static_cast<int64_t>(sizeof(T)));
  Scratch scratch(static_cast<size_t>(rows * n) * sizeof(T), op, "per-row weight gradients");
  T* part = scratch.as<T>();
  cublasHandle_t h = cublas_handle();
  const cudaStream_t stream = current_stream();
  const int cout = cublas_int(s.Cout, op, "Cout"), cin = cublas_int(s.Cin, op, "Cin");
  const int ldx = cublas_int(s.T, op, "T"), ldg = cublas_int(s.To, op, "To");
  for (int64_t k = 0; k < s.K; ++k) {
    int64_t t0, t1;
    conv1d_tap_columns(s, k, &t0, &t1);
    const int64_t off = k * s.dilation - s.pad_left;
    if (t1 <= t0 || s.B == 0) {  // no terms: the tap's gradient is zero
      sum_products_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(n, s.K, k, 0, false, part, dw);
      CADENZA_CUDA_CHECK(cudaGetLastError());
      continue;
    }
    const int cols = cublas_int(t1 - t0, op, "columns");
    for (int64_t b0 = 0; b0 < s.B; b0 += rows) {
      const int64_t nb = std::min(rows, s.B - b0);
      gemm_batched(h, CUBLAS_OP_T, CUBLAS_OP_N, cin, cout, cols, x + b0 * s.Cin * s.T + t0 + off,
                   ldx, s.Cin * s.T, g + b0 * s.Cout * s.To + t0, ldg, s.Cout * s.To, T(0), part,
                   cin, n, cublas_int(nb, op, "B"));
      sum_products_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(n, s.K, k, nb, b0 > 0, part, dw);
      CADENZA_CUDA_CHECK(cudaGetLastError());
    }
  }
}

template <class T>
void backward_bias(const Conv1dShape& s, const T* g, T* db) {
  bias_grad(s.B, s.Cout, s.To, g, db);
}

void check_dtype(DType dt, const char* op) {
  if (dt != DType::f32 && dt != DType::f64)
    throw std::invalid_argument(std::string(op) + " (cuda): f32 or f64 only");
}

}  // namespace

void conv1d_forward(DType dt, const Conv1dShape& s, const void* x, const void* w, const void* bias,
                    void* y) {
  check_dtype(dt, "conv1d_forward");
  if (dt == DType::f32)
    forward(s, static_cast<const float*>(x), static_cast<const float*>(w),
            static_cast<const float*>(bias), static_cast<float*>(y));
  else
    forward(s, static_cast<const double*>(x), static_cast<const double*>(w),
            static_cast<const double*>(bias), static_cast<double*>(y));
}

void conv1d_backward_input(DType dt, const Conv1dShape& s, const void* g, const void* w, void* dx) {
  check_dtype(dt, "conv1d_backward_input");
  if (dt == DType::f32)
    backward_input(s, static_cast<const float*>(g), static_cast<const float*>(w),
                   static_cast<float*>(dx));
  else
    backward_input(s, static_cast<const double*>(g), static_cast<const double*>(w),
                   static_cast<double*>(dx));
}

void conv1d_backward_weight(DType dt, const Conv1dShape& s, const void* g, const void* x,
                            void* dw) {
  check_dtype(dt, "conv1d_backward_weight");
  if (dt == DType::f32)
    backward_weight(s, static_cast<const float*>(g), static_cast<const float*>(x),
                    static_cast<float*>(dw));
  else
    backward_weight(s, static_cast<const double*>(g), static_cast<const double*>(x),
                    static_cast<double*>(dw));
}

void conv1d_backward_bias(DType dt, const Conv1dShape& s, const void* g, void* db) {
  check_dtype(dt, "conv1d_backward_bias");
  if (dt == DType::f32)
    backward_bias(s, static_cast<const float*>(g), static_cast<float*>(db));
  else
    backward_bias(s, static_cast<const double*>(g), static_cast<double*>(db));
}

}  // namespace cadenza::kernels::cuda
