#pragma once
// Row-major f32 matrix-vector products over a range of rows, for batch-1
// decoding where each thread of a team owns some rows of every weight.
#include <cstdint>

namespace cadenza::kernels {

// y[r] = (accumulate ? y[r] : 0) + dot(W[r * ldw .. + K], x) for r in [r0, r1).
void gemv_rows(const float* W, int64_t ldw, int64_t K, const float* x, float* y, int64_t r0, int64_t r1,
               bool accumulate);

}  // namespace cadenza::kernels
