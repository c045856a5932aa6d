#pragma once
// LSTM and GRU recurrences: the recurrent GEMM of every step fused with the
// pointwise cell (kernels/math.h), with no per-gate temporaries. The input
// projection and weight-gradient GEMMs around them live in engine/rnn.cpp.
#include <cstdint>

#include "kernels/dtype.h"


namespace cadenza::kernels {

// The whole recurrence of one LSTM layer in one parallel region: each thread
// owns a slice of the hidden units, computes the recurrent GEMM for the four
// gate blocks of its units and their cells, and the threads meet once per
// step. act: [T, B, 4H], holding x W_ih^T + b on entry and the gate
// activations on return; w_hh: [4H, H]; h0, c0: [B, H]; h_out: [T, B, H]
// (row-major, h_t at t*B*H); cells: [T, B, H].
// When x (T, B, I) and w_ih (4H, I) are given, act holds only the biases on
// entry and each thread adds its units' input projection itself: for short
// sequences (sampling) that keeps the whole layer on all threads.
void lstm_recurrent_forward(DType dt, int64_t T, int64_t B, int64_t H, void* act, const void* w_hh,
                            const void* h0, const void* c0, void* h_out, void* cells,
                            const void* x = nullptr, const void* w_ih = nullptr, int64_t I = 0);
// Backward through the recurrence. dh_out: [T, B, H] gradient into every h_t;
// dc: [B, H] gradient into c_T on entry, into c0 on return; dh0: [B, H]
// receives the gradient into h0; dgates: [T, B, 4H] the pre-activation
// gradients (for the weight and input GEMMs that follow).
void lstm_recurrent_backward(DType dt, int64_t T, int64_t B, int64_t H, const void* act,
                             const void* w_hh, const void* c0, const void* cells, const void* dh_out,
                             void* dc, void* dh0, void* dgates);

// The f32 LSTM cell over units [j0, j0 + n) of one batch row, vectorised:
// gates [4H] (pre-activations in, activations out), c_prev, c, h [H]; c may
// be c_prev.
void lstm_cell_forward_f32(float* gates, int64_t H, int64_t j0, int64_t n, const float* c_prev, float* c,
                           float* h);

// GRU: gx: [T, B, 3H] (x W_ih^T + b_ih); b_hh: [3H] or null; h_out: [T, B, H];
// save: [T, B, 4H] (r, z, n, W_hn h + b_hn per step).
void gru_recurrent_forward(DType dt, int64_t T, int64_t B, int64_t H, const void* gx, const void* w_hh,
                           const void* b_hh, const void* h0, void* h_out, void* save);
// dgx, dgh: [T, B, 3H] pre-activation gradients of the input and hidden
// projections; dh0: [B, H].
void gru_recurrent_backward(DType dt, int64_t T, int64_t B, int64_t H, const void* w_hh,
                            const void* h0, const void* h_out, const void* save, const void* dh_out,
                            void* dgx, void* dgh, void* dh0);

}  // namespace cadenza::kernels
