#pragma once
// BatchNorm over the channels of a contiguous [B, C, L] buffer (L: the
// product of the spatial dims), fused: statistics in two reads, the
// normalisation in one, and the backward in two, instead of a pass per
// primitive op.
//   y[b, c, l] = (x[b, c, l] - mean[c]) * invstd[c] * w[c] + bias[c]
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

// Per channel over B * L values: mean and the biased variance (two passes
// per channel, for accuracy). dt is f32 or f64; mean, var are [C] of dt.
void batch_norm_stats(DType dt, int64_t B, int64_t C, int64_t L, const void* x, void* mean, void* var);

// y = (x - mean) * invstd * w + bias with invstd = 1 / sqrt(var + eps);
// w and bias may be null (1 and 0).
void batch_norm_forward(DType dt, int64_t B, int64_t C, int64_t L, const void* x, const void* mean,
                        const void* var, double eps, const void* w, const void* bias, void* y);

// The gradient of the training-mode normalisation (statistics of this batch)
// for upstream g: with xhat = (x - mean) * invstd and n = B * L,
//   dw[c] = sum g * xhat,  db[c] = sum g,
//   dx = w * invstd * (g - db / n - xhat * dw / n).
// dx, dw, db may each be null (not wanted); w may be null (1).
void batch_norm_backward(DType dt, int64_t B, int64_t C, int64_t L, const void* x, const void* g,
                         const void* mean, const void* var, double eps, const void* w, void* dx, void* dw,
                         void* db);

}  // namespace cadenza::kernels
