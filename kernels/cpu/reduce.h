#pragma once
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

enum class ReduceOp : int { sum, max, min, argmax, argmin };

// x: contiguous [outer, R, inner] -> out: contiguous [outer, inner]
// (argmax/argmin write int64 indices; the others write dt).
void reduce_forward(ReduceOp op, DType dt, int64_t outer, int64_t R, int64_t inner, const void* x,
                    void* out);

}  // namespace cadenza::kernels
