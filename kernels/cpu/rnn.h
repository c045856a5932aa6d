#pragma once
// Fused pointwise kernels of the LSTM and GRU cells over a batch: one pass,
// no per-gate temporaries. The GEMMs around them live in engine/rnn.cpp.
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

// gates: [B, 4H] pre-activations in, activations out; c_prev, c, h: [B, H].
void lstm_cell_forward(DType dt, int64_t B, int64_t H, void* gates, const void* c_prev, void* c,
                       void* h);
// act: [B, 4H] saved activations; c_prev, c: [B, H]; dh, dc_next: [B, H]
// (dc_next may be null = 0). Writes dgates [B, 4H] and dc_prev [B, H].
void lstm_cell_backward(DType dt, int64_t B, int64_t H, const void* act, const void* c_prev,
                        const void* c, const void* dh, const void* dc_next, void* dgates,
                        void* dc_prev);

// gx, gh: [B, 3H]; h_prev, h: [B, H]; save: [B, 4H] (r, z, n, gh_n).
void gru_cell_forward(DType dt, int64_t B, int64_t H, const void* gx, const void* gh,
                      const void* h_prev, void* save, void* h);
// Writes dgx, dgh [B, 3H] and dh_prev_direct [B, H].
void gru_cell_backward(DType dt, int64_t B, int64_t H, const void* save, const void* h_prev,
                       const void* dh, void* dgx, void* dgh, void* dh_prev_direct);

}  // namespace cadenza::kernels
