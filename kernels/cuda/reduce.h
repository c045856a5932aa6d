#pragma once
// Reductions on CUDA with kernels/cpu/reduce.h's signature and semantics:
// f32 sums accumulate in double; max/min let the first NaN win and ties go
// to the lowest index, as the CPU (and PyTorch) do. Over the last dim
// (inner < 8) a warp per output, combined by warp shuffles; otherwise tiles
// of 32 neighbouring outputs by 8 row groups, the rows cut into ranges
// combined by a second kernel in a fixed order when the tiles alone would
// leave the device idle. No atomics: the same launch gives the same bits.
#include "kernels/cpu/reduce.h"

namespace cadenza::kernels::cuda {

void reduce_forward(ReduceOp op, DType dt, int64_t outer, int64_t R, int64_t inner, const void* x,
                    void* out);

}  // namespace cadenza::kernels::cuda
