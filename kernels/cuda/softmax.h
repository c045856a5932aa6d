#pragma once
// Softmax / log-softmax of each row on CUDA, with kernels/cpu/softmax.h's
// signature and formulas (the row's sum of exp in double, log-softmax as
// (x - max) - log(sum)). One warp per row.
#include "kernels/cpu/softmax.h"

namespace cadenza::kernels::cuda {

void softmax_forward(DType dt, int64_t rows, int64_t C, const void* x, void* y, bool log);

}  // namespace cadenza::kernels::cuda
