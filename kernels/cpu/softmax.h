#pragma once
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

// x, y: contiguous [rows, C]; softmax (or log-softmax) of each row.
void softmax_forward(DType dt, int64_t rows, int64_t C, const void* x, void* y, bool log);

// Fused cross-entropy (softmax, log and the target's pick in one pass per
// row). x: contiguous logits [outer, C, inner] (inner = 1: [rows, C]; inner
// > 1: PyTorch's [N, C, d...] with d flattened, read in place), rows = outer
// * inner, row r = o * inner + i holding x[o, :, i]; t: [rows] class
// indices. Per row: loss = logsumexp(x) - x[t] (kmath::ce_loss), lse =
// logsumexp(x), valid = 1 and safe = t; a row whose target is ignore_index
// gets loss 0, valid 0 and safe 0. A target outside [0, C) (and not
// ignore_index) lowers *bad (on the kernel's device, -1 on entry) to the
// smallest such row. Each row's sums run over c in order, so the layout
// does not change a value.
void cross_entropy_forward(DType dt, int64_t rows, int64_t C, int64_t inner, const void* x,
                           const int64_t* t, int64_t ignore_index, void* loss, void* lse,
                           void* valid, int64_t* safe, int64_t* bad);
// dx[o, c, i] = g[r] valid[r] (exp(x[o, c, i] - lse[r]) - [c == safe[r]])
// (kmath::ce_grad), r = o * inner + i; dx has x's layout.
void cross_entropy_backward(DType dt, int64_t rows, int64_t C, int64_t inner, const void* x,
                            const int64_t* safe, const void* lse, const void* valid, const void* g,
                            void* dx);

}  // namespace cadenza::kernels
