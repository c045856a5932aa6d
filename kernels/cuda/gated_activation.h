#pragma once
// WaveNet's gated activation on CUDA, with kernels/cpu/gated_activation.h's
// signature: y[b, c, t] = tanh(x[b, c, t]) * sigmoid(x[b, C + c, t]) over
// contiguous device buffers. The per-element formula is kmath::gate /
// kmath::gate_backward (kernels/math.h), the one the CPU tests cover; f32
// runs its fast_expf form, as the CPU's scalar tail does. f32 and f64.
#include "kernels/cpu/gated_activation.h"

namespace cadenza::kernels::cuda {

// x: [B, 2C, T] -> y: [B, C, T].
void gated_activation_forward(DType dt, int64_t B, int64_t C, int64_t T, const void* x, void* y);
// g: [B, C, T] -> dx: [B, 2C, T] (overwritten), from x.
void gated_activation_backward(DType dt, int64_t B, int64_t C, int64_t T, const void* x,
                               const void* g, void* dx);

}  // namespace cadenza::kernels::cuda
