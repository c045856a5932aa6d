#include <stdexcept>
#include <string>

#include "kernels/cuda/cublas.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/rnn.h"
#include "kernels/cuda/rnn_persistent.h"
#include "kernels/cuda/scratch.h"
#include "kernels/math.h"
#include "kernels/strided_layout.h"

namespace cadenza::kernels::cuda {

namespace {

// Column-major C = op(A) op(B) + beta C (alpha = 1). Every GEMM below is a
// row-major product written through the identity that a row-major [M][N]
// matrix with leading dimension ld is the column-major N x M matrix (its
// transpose) with the same ld.
void gemm_cm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
             const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  const float one = 1.f;
  CADENZA_CUBLAS_CHECK(cublasSgemm(h, ta, tb, m, n, k, &one, A, lda, B, ldb, &beta, C, ldc));
}
void gemm_cm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
             const double* A, int lda, const double* B, int ldb, double beta, double* C, int ldc) {
  const double one = 1.0;
  CADENZA_CUBLAS_CHECK(cublasDgemm(h, ta, tb, m, n, k, &one, A, lda, B, ldb, &beta, C, ldc));
}

// Row-major Y[R, G] (ld G) = beta Y + X[R, K] (ld K) W^T, W: [G, K] (ld K),
// the projection of R rows onto the G gate pre-activations. Column-major:
// Y^T (G x R, ld G) = W (W^T stored K x G with ld K, op T) times X^T
// (K x R, ld K, op N).
template <class T>
void project(cublasHandle_t h, int R, int G, int K, const T* X, const T* W, T beta, T* Y) {
  gemm_cm(h, CUBLAS_OP_T, CUBLAS_OP_N, G, R, K, W, K, X, K, beta, Y, G);
}

// Row-major dH[B, H] (ld H) = beta dH + dG[B, G] (ld G) W[G, H] (ld H), the
// gradient into h_{t-1} through W_hh. Column-major: dH^T (H x B, ld H) =
// W^T (W stored as H x G with ld H, op N) times dG^T (G x B, ld G, op N).
template <class T>
void back_project(cublasHandle_t h, int B, int H, int G, const T* dG, const T* W, T beta, T* dH) {
  gemm_cm(h, CUBLAS_OP_N, CUBLAS_OP_N, H, B, G, W, H, dG, G, beta, dH, H);
}

// One thread per (b, j) of a [B, H] state: unit j of row b owns its gate
// entries j, H + j, ... of that row, so the cells need no synchronisation.
template <class T>
__global__ void lstm_cell_forward_kernel(int64_t B, kmath::IndexDiv Hd, T* act, const T* c_prev,
                                         T* c, T* h) {
  const int64_t H = Hd.d;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < B * H;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t b = Hd.div(i);
    kmath::lstm_cell_forward(act + b * 4 * H, H, i - b * H, c_prev[i], c[i], h[i]);
  }
}

// dh = dh_out + dh_next (the gradient through W_hh from step t + 1); dc is
// the gradient into c_t on entry and into c_{t-1} on return.
template <class T>
__global__ void lstm_cell_backward_kernel(int64_t B, kmath::IndexDiv Hd, const T* act,
                                          const T* c_prev, const T* c, const T* dh_out,
                                          const T* dh_next, T* dc, T* dg) {
  const int64_t H = Hd.d;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < B * H;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t b = Hd.div(i), r = b * 4 * H;
    kmath::lstm_cell_backward(act + r, H, i - b * H, c_prev[i], c[i], dh_out[i] + dh_next[i], dc[i],
                              dg + r, dc[i]);
  }
}

// gh holds h_{t-1} W_hh^T; the hidden bias is added here (the sum the CPU
// forms as b_hh + h W_hh^T), then the cell.
template <class T>
__global__ void gru_cell_forward_kernel(int64_t B, kmath::IndexDiv Hd, const T* gx, T* gh,
                                        const T* b_hh, const T* h_prev, T* save, T* h) {
  const int64_t H = Hd.d;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < B * H;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t b = Hd.div(i), j = i - b * H;
    T* ghb = gh + b * 3 * H;
    if (b_hh)
      for (int gate = 0; gate < 3; ++gate) ghb[gate * H + j] += b_hh[gate * H + j];
    kmath::gru_cell_forward(gx + b * 3 * H, ghb, H, j, h_prev[i], save + b * 4 * H, h[i]);
  }
}

// dh_next: the gradient into h_t from step t + 1 on entry, the part of the
// gradient into h_{t-1} that skips W_hh on return (the GEMM adds the rest).
template <class T>
__global__ void gru_cell_backward_kernel(int64_t B, kmath::IndexDiv Hd, const T* save,
                                         const T* h_prev, const T* dh_out, T* dh_next, T* dgx,
                                         T* dgh) {
  const int64_t H = Hd.d;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < B * H;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t b = Hd.div(i);
    T direct;
    kmath::gru_cell_backward(save + b * 4 * H, H, i - b * H, h_prev[i], dh_out[i] + dh_next[i],
                             dgx + b * 3 * H, dgh + b * 3 * H, direct);
    dh_next[i] = direct;
  }
}

void check_dtype(DType dt, const char* op) {
  if (dt != DType::f32 && dt != DType::f64)
    throw std::invalid_argument(std::string(op) + " (cuda): f32 or f64 only");
}

template <class T>
void lstm_fwd(int64_t Tn, int64_t B, int64_t H, T* act, const T* w_hh, const T* h0, const T* c0,
              T* h_out, T* cells, const T* x, const T* w_ih, int64_t I) {
  const char* op = "lstm_recurrent_forward";
  if (Tn == 0 || B * H == 0) return;
  const int64_t BH = B * H, BG = 4 * BH;
  const int b = cublas_int(B, op, "B"), h = cublas_int(H, op, "H"), g = cublas_int(4 * H, op, "4H");
  cublasHandle_t handle = cublas_handle();
  // The input projection of every step at once (the CPU adds it per step and
  // thread; the sum is the same): act += x W_ih^T.
  if (x && I > 0)
    project(handle, cublas_int(Tn * B, op, "T * B"), g, cublas_int(I, op, "I"), x, w_ih, T(1), act);
  if (lstm_recurrent_forward_persistent(Tn, B, H, act, w_hh, h0, c0, h_out, cells)) return;
  for (int64_t t = 0; t < Tn; ++t) {
    const T* hp = t == 0 ? h0 : h_out + (t - 1) * BH;
    const T* cp = t == 0 ? c0 : cells + (t - 1) * BH;
    T* a = act + t * BG;
    project(handle, b, g, h, hp, w_hh, T(1), a);
    lstm_cell_forward_kernel<T><<<grid_for(BH), kThreads, 0, current_stream()>>>(
        B, kmath::IndexDiv(H, B * H), a, cp, cells + t * BH, h_out + t * BH);
    CADENZA_CUDA_CHECK(cudaGetLastError());
  }
}

// dh0 doubles as dh_next, the gradient into h_t through W_hh from step t + 1:
// zero before the last step, and after the first step's GEMM the gradient
// into h0.
template <class T>
void lstm_bwd(int64_t Tn, int64_t B, int64_t H, const T* act, const T* w_hh, const T* c0,
              const T* cells, const T* dh_out, T* dc, T* dh0, T* dgates) {
  const char* op = "lstm_recurrent_backward";
  const int64_t BH = B * H, BG = 4 * BH;
  if (BH == 0) return;
  if (Tn > 0 &&
      lstm_recurrent_backward_persistent(Tn, B, H, act, w_hh, c0, cells, dh_out, dc, dh0, dgates))
    return;
  CADENZA_CUDA_CHECK(
      cudaMemsetAsync(dh0, 0, static_cast<size_t>(BH) * sizeof(T), current_stream()));
  if (Tn == 0) return;
  const int b = cublas_int(B, op, "B"), h = cublas_int(H, op, "H"), g = cublas_int(4 * H, op, "4H");
  cublasHandle_t handle = cublas_handle();
  for (int64_t t = Tn - 1; t >= 0; --t) {
    const T* cp = t == 0 ? c0 : cells + (t - 1) * BH;
    T* dg = dgates + t * BG;
    lstm_cell_backward_kernel<T><<<grid_for(BH), kThreads, 0, current_stream()>>>(
        B, kmath::IndexDiv(H, B * H), act + t * BG, cp, cells + t * BH, dh_out + t * BH, dh0, dc,
        dg);
    CADENZA_CUDA_CHECK(cudaGetLastError());
    back_project(handle, b, h, g, dg, w_hh, T(0), dh0);
  }
}

template <class T>
void gru_fwd(int64_t Tn, int64_t B, int64_t H, const T* gx, const T* w_hh, const T* b_hh,
             const T* h0, T* h_out, T* save) {
  const char* op = "gru_recurrent_forward";
  if (Tn == 0 || B * H == 0) return;
  const int64_t BH = B * H, BG = 3 * BH;
  if (gru_recurrent_forward_persistent(Tn, B, H, gx, w_hh, b_hh, h0, h_out, save)) return;
  const int b = cublas_int(B, op, "B"), h = cublas_int(H, op, "H"), g = cublas_int(3 * H, op, "3H");
  cublasHandle_t handle = cublas_handle();
  Scratch gh(static_cast<size_t>(BG) * sizeof(T), op, "hidden projections");
  for (int64_t t = 0; t < Tn; ++t) {
    const T* hp = t == 0 ? h0 : h_out + (t - 1) * BH;
    project(handle, b, g, h, hp, w_hh, T(0), gh.as<T>());
    gru_cell_forward_kernel<T><<<grid_for(BH), kThreads, 0, current_stream()>>>(
        B, kmath::IndexDiv(H, B * H), gx + t * BG, gh.as<T>(), b_hh, hp, save + t * 4 * BH,
        h_out + t * BH);
    CADENZA_CUDA_CHECK(cudaGetLastError());
  }
}

// dh0 doubles as dh_next, as in lstm_bwd.
template <class T>
void gru_bwd(int64_t Tn, int64_t B, int64_t H, const T* w_hh, const T* h0, const T* h_out,
             const T* save, const T* dh_out, T* dgx, T* dgh, T* dh0) {
  const char* op = "gru_recurrent_backward";
  const int64_t BH = B * H, BG = 3 * BH;
  if (BH == 0) return;
  if (Tn > 0 &&
      gru_recurrent_backward_persistent(Tn, B, H, w_hh, h0, h_out, save, dh_out, dgx, dgh, dh0))
    return;
  CADENZA_CUDA_CHECK(
      cudaMemsetAsync(dh0, 0, static_cast<size_t>(BH) * sizeof(T), current_stream()));
  if (Tn == 0) return;
  const int b = cublas_int(B, op, "B"), h = cublas_int(H, op, "H"), g = cublas_int(3 * H, op, "3H");
  cublasHandle_t handle = cublas_handle();
  for (int64_t t = Tn - 1; t >= 0; --t) {
    const T* hp = t == 0 ? h0 : h_out + (t - 1) * BH;
    gru_cell_backward_kernel<T><<<grid_for(BH), kThreads, 0, current_stream()>>>(
        B, kmath::IndexDiv(H, B * H), save + t * 4 * BH, hp, dh_out + t * BH, dh0, dgx + t * BG,
        dgh + t * BG);
    CADENZA_CUDA_CHECK(cudaGetLastError());
    back_project(handle, b, h, g, dgh + t * BG, w_hh, T(1), dh0);
  }
}

}  // namespace

#define CADENZA_RNN_CUDA_DISPATCH(OP, FN, ...) \
  check_dtype(dt, OP);                         \
  if (dt == DType::f32) {                      \
    using T = float;                           \
    FN(__VA_ARGS__);                           \
  } else {                                     \
    using T = double;                          \
    FN(__VA_ARGS__);                           \
  }

void lstm_recurrent_forward(DType dt, int64_t Tn, int64_t B, int64_t H, void* act, const void* w_hh,
                            const void* h0, const void* c0, void* h_out, void* cells, const void* x,
                            const void* w_ih, int64_t I) {
  CADENZA_RNN_CUDA_DISPATCH("lstm_recurrent_forward", lstm_fwd<T>, Tn, B, H, static_cast<T*>(act),
                            static_cast<const T*>(w_hh), static_cast<const T*>(h0),
                            static_cast<const T*>(c0), static_cast<T*>(h_out),
                            static_cast<T*>(cells), static_cast<const T*>(x),
                            static_cast<const T*>(w_ih), I)
}

void lstm_recurrent_backward(DType dt, int64_t Tn, int64_t B, int64_t H, const void* act,
                             const void* w_hh, const void* c0, const void* cells,
                             const void* dh_out, void* dc, void* dh0, void* dgates) {
  CADENZA_RNN_CUDA_DISPATCH("lstm_recurrent_backward", lstm_bwd<T>, Tn, B, H,
                            static_cast<const T*>(act), static_cast<const T*>(w_hh),
                            static_cast<const T*>(c0), static_cast<const T*>(cells),
                            static_cast<const T*>(dh_out), static_cast<T*>(dc),
                            static_cast<T*>(dh0), static_cast<T*>(dgates))
}

void gru_recurrent_forward(DType dt, int64_t Tn, int64_t B, int64_t H, const void* gx,
                           const void* w_hh, const void* b_hh, const void* h0, void* h_out,
                           void* save) {
  CADENZA_RNN_CUDA_DISPATCH("gru_recurrent_forward", gru_fwd<T>, Tn, B, H,
                            static_cast<const T*>(gx), static_cast<const T*>(w_hh),
                            static_cast<const T*>(b_hh), static_cast<const T*>(h0),
                            static_cast<T*>(h_out), static_cast<T*>(save))
}

void gru_recurrent_backward(DType dt, int64_t Tn, int64_t B, int64_t H, const void* w_hh,
                            const void* h0, const void* h_out, const void* save, const void* dh_out,
                            void* dgx, void* dgh, void* dh0) {
  CADENZA_RNN_CUDA_DISPATCH("gru_recurrent_backward", gru_bwd<T>, Tn, B, H,
                            static_cast<const T*>(w_hh), static_cast<const T*>(h0),
                            static_cast<const T*>(h_out), static_cast<const T*>(save),
                            static_cast<const T*>(dh_out), static_cast<T*>(dgx),
                            static_cast<T*>(dgh), static_cast<T*>(dh0))
}

#undef CADENZA_RNN_CUDA_DISPATCH

}  // namespace cadenza::kernels::cuda
