#pragma once
// Fused optimizer updates over one contiguous parameter buffer.
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

struct AdamParams {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;     // 1-based, after increment
  bool decoupled;   // AdamW
};
// p, g, m, v: n elements each (m, v updated in place).
void adam_step(DType dt, int64_t n, void* p, const void* g, void* m, void* v, const AdamParams& a);

struct SgdParams {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
  bool first;  // the momentum buffer is fresh: it takes g as is
};
void sgd_step(DType dt, int64_t n, void* p, const void* g, void* buf, const SgdParams& s);

// For global-norm clipping: out[i] = the sum of squares of the n[i] values
// at x[i], accumulated in double, for each of `count` tensors of one dtype
// (one call, so a device answers with one synchronisation, not one each).
void sum_squares(DType dt, int64_t count, const int64_t* n, const void* const* x, double* out);
void scale_inplace(DType dt, int64_t n, void* x, double s);

}  // namespace cadenza::kernels
