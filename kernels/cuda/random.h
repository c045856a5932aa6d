#pragma once
// Philox draws on CUDA, with kernels/cpu/random.h's signatures and numbers:
// element i is the same function of (seed, counter, i) as on the CPU
// (kernels/update_math.h). `out` is device memory.
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels::cuda {

void philox_uniform(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double lo, double hi);
void philox_bernoulli(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double p, double value);
void philox_normal(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double mean, double std);

}  // namespace cadenza::kernels::cuda
