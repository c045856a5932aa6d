#pragma once
// Fused optimizer updates over lists of contiguous parameter buffers.
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

// The optimizer kernels take a list of tensors of one dtype, so a device
// updates a model's parameters in a few launches, not one per tensor (as
// torch.optim's foreach and fused paths do); each tensor's update is the
// single-tensor update, element by element.

struct AdamParams {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;  // AdamW
};
// One parameter: n elements at p, its gradient g and its moments m and v
// (updated in place), and its own step count (1-based, after increment).
struct AdamTensor {
  int64_t n;
  void* p;
  const void* g;
  void* m;
  void* v;
  int64_t step;
};
void adam_step(DType dt, int64_t count, const AdamTensor* t, const AdamParams& a);

struct SgdParams {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
};
// One parameter: buf is its momentum buffer (null without momentum); first:
// the buffer is fresh, so it takes g as is.
struct SgdTensor {
  int64_t n;
  void* p;
  const void* g;
  void* buf;
  bool first;
};
void sgd_step(DType dt, int64_t count, const SgdTensor* t, const SgdParams& s);

// For global-norm clipping: out[i] = the sum of squares of the n[i] values
// at x[i], accumulated in double, for each of `count` tensors of one dtype
// (one call, so a device answers with one synchronisation, not one each);
// scale_inplace multiplies each of them by s.
void sum_squares(DType dt, int64_t count, const int64_t* n, const void* const* x, double* out);
void scale_inplace(DType dt, int64_t count, const int64_t* n, void* const* x, double s);

}  // namespace cadenza::kernels
