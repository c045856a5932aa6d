#pragma once
// LSTM and GRU recurrences on CUDA, with kernels/cpu/rnn.h's signatures,
// buffer layouts and results, on two paths:
//
// - Persistent (rnn_persistent.cu), for batch B <= 8 when the plan fits
//   (kernels/rnn_math.h: the units' slice of W_hh plus the staged state in
//   one block's shared memory, with at most one block per multiprocessor,
//   all resident): one cooperative launch runs every time step; each block
//   keeps its hidden units' rows (forward) or columns (backward) of W_hh on
//   chip for the whole sequence and the blocks meet at one grid-wide
//   barrier per step. Sums in a fixed order, no atomics: the same bits on
//   every run of the same device. At small batch a step is mostly launch
//   and weight traffic, which this path removes (sampling, small-batch
//   training).
// - cuBLAS, otherwise: each time step is one GEMM for the recurrent
//   projection h_{t-1} W_hh^T and one pointwise kernel for the cell
//   (kmath's lstm_cell_* / gru_cell_*, the formulas the CPU tests cover);
//   the backward runs the cell backward and then one GEMM for dh_{t-1} per
//   step. cuBLAS's math mode follows matmul.h's (no TF32 unless
//   CADENZA_ALLOW_TF32=1).
//
// Both share the cell formulas and the input projection (one GEMM over all
// steps when x is given). CADENZA_RNN_PERSISTENT picks the path: unset
// (automatic, as above), 0 (always cuBLAS) or 1 (always persistent; an
// error naming the reason where it cannot run, e.g. B > 8), read on every
// call. All on the current stream, on contiguous device buffers; f32 and f64.
#include "kernels/cpu/rnn.h"

namespace cadenza::kernels::cuda {

// act: [T, B, 4H], x W_ih^T + b on entry (only b when x is given), the gate
// activations on return; w_hh: [4H, H]; h0, c0: [B, H] -> h_out, cells:
// [T, B, H]. With x: [T, B, I] and w_ih: [4H, I] given, one GEMM adds the
// input projection of every step into act first.
void lstm_recurrent_forward(DType dt, int64_t T, int64_t B, int64_t H, void* act, const void* w_hh,
                            const void* h0, const void* c0, void* h_out, void* cells,
                            const void* x = nullptr, const void* w_ih = nullptr, int64_t I = 0);
// dh_out: [T, B, H]; dc: [B, H], the gradient into c_T on entry, into c0 on
// return -> dh0: [B, H], dgates: [T, B, 4H] (pre-activation gradients).
void lstm_recurrent_backward(DType dt, int64_t T, int64_t B, int64_t H, const void* act,
                             const void* w_hh, const void* c0, const void* cells,
                             const void* dh_out, void* dc, void* dh0, void* dgates);

// gx: [T, B, 3H] (x W_ih^T + b_ih), w_hh: [3H, H], b_hh: [3H] or null, h0:
// [B, H] -> h_out: [T, B, H], save: [T, B, 4H] (r, z, n, W_hn h + b_hn).
void gru_recurrent_forward(DType dt, int64_t T, int64_t B, int64_t H, const void* gx,
                           const void* w_hh, const void* b_hh, const void* h0, void* h_out,
                           void* save);
// dh_out: [T, B, H] -> dgx, dgh: [T, B, 3H] pre-activation gradients of the
// input and hidden projections, dh0: [B, H].
void gru_recurrent_backward(DType dt, int64_t T, int64_t B, int64_t H, const void* w_hh,
                            const void* h0, const void* h_out, const void* save, const void* dh_out,
                            void* dgx, void* dgh, void* dh0);

}  // namespace cadenza::kernels::cuda
