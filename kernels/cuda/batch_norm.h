#pragma once
// BatchNorm over the channels of a contiguous [B, C, L] device buffer, with
// kernels/cpu/batch_norm.h's signatures and formulas. The statistics and the
// backward run one block per channel (a block-wide sum, f32 summed in
// double, in a fixed order for a given shape so repeated runs agree); the
// forward is one thread per element on a per-channel scale and shift worked
// out first, in double as on the CPU. f32 and f64.
//   y[b, c, l] = (x[b, c, l] - mean[c]) * invstd[c] * w[c] + bias[c]
#include "kernels/cpu/batch_norm.h"

namespace cadenza::kernels::cuda {

// x: [B, C, L] -> mean, var: [C] (biased variance, two passes).
void batch_norm_stats(DType dt, int64_t B, int64_t C, int64_t L, const void* x, void* mean,
                      void* var);
// x: [B, C, L], mean, var, w, bias: [C] (w, bias may be null) -> y: [B, C, L].
void batch_norm_forward(DType dt, int64_t B, int64_t C, int64_t L, const void* x, const void* mean,
                        const void* var, double eps, const void* w, const void* bias, void* y);
// x, g: [B, C, L], mean, var, w: [C] (w may be null) -> dx: [B, C, L], dw, db:
// [C], each overwritten, or skipped when null.
void batch_norm_backward(DType dt, int64_t B, int64_t C, int64_t L, const void* x, const void* g,
                         const void* mean, const void* var, double eps, const void* w, void* dx,
                         void* dw, void* db);

}  // namespace cadenza::kernels::cuda
