#pragma once
// Softmax / log-softmax of each row on CUDA, with kernels/cpu/softmax.h's
// signature and formulas (the row's sum of exp in double, log-softmax as
// (x - max) - log(sum)). One warp per row.
#include "kernels/cpu/softmax.h"

namespace cadenza::kernels::cuda {

void softmax_forward(DType dt, int64_t rows, int64_t C, const void* x, void* y, bool log);
// A warp per row when inner = 1, a thread per row (its column read with
// stride inner, coalesced across the warp) otherwise; *bad lowered with an
// atomic minimum (as unsigned, so -1 is "none").
void cross_entropy_forward(DType dt, int64_t rows, int64_t C, int64_t inner, const void* x,
                           const int64_t* t, int64_t ignore_index, void* loss, void* lse,
                           void* valid, int64_t* safe, int64_t* bad);
void cross_entropy_backward(DType dt, int64_t rows, int64_t C, int64_t inner, const void* x,
                            const int64_t* safe, const void* lse, const void* valid, const void* g,
                            void* dx);

}  // namespace cadenza::kernels::cuda
