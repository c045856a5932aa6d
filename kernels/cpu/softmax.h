#pragma once
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

// x, y: contiguous [rows, C]; softmax (or log-softmax) of each row.
void softmax_forward(DType dt, int64_t rows, int64_t C, const void* x, void* y, bool log);

}  // namespace cadenza::kernels
