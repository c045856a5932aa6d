#pragma once
// Fused optimizer updates on CUDA, with kernels/cpu/optim.h's signatures
// and per-element math (kernels/update_math.h): each call launches once for
// every 48 tensors of its list. Buffers are device memory; sum_squares
// returns its double sums to the host (a fixed-order reduction: the same
// bits every run), all tensors' after one synchronisation.
#include "kernels/cpu/optim.h"

namespace cadenza::kernels::cuda {

void adam_step(DType dt, int64_t count, const AdamTensor* t, const AdamParams& a);
void sgd_step(DType dt, int64_t count, const SgdTensor* t, const SgdParams& s);
void sum_squares(DType dt, int64_t count, const int64_t* n, const void* const* x, double* out);
void scale_inplace(DType dt, int64_t count, const int64_t* n, void* const* x, double s);

}  // namespace cadenza::kernels::cuda
