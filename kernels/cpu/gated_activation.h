#pragma once
// WaveNet's gated activation over the two channel halves of a [B, 2C, T]
// buffer, forward and backward in one pass each (contiguous buffers).
//   y[b, c, t] = tanh(x[b, c, t]) * sigmoid(x[b, C + c, t])
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

// x: [B, 2C, T] -> y: [B, C, T]. dt is f32 or f64.
void gated_activation_forward(DType dt, int64_t B, int64_t C, int64_t T, const void* x, void* y);
// g: [B, C, T] -> dx: [B, 2C, T], from x.
void gated_activation_backward(DType dt, int64_t B, int64_t C, int64_t T, const void* x, const void* g, void* dx);

}  // namespace cadenza::kernels
