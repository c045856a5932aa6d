#pragma once
// Philox 4x32-10 streams: element i is a pure function of (seed, counter, i),
// so results do not depend on the thread count.
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

// out[i] uniform in [lo, hi): block (counter + i/4), lane i%4. Uses ceil(n/4) blocks.
void philox_uniform(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double lo,
                    double hi);
// out[i] = value where philox_uniform's out[i] in [0, 1) would be below p,
// else 0: the same draws, compared in dt. Uses ceil(n/4) blocks.
void philox_bernoulli(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double p,
                      double value);
// out[i] normal(mean, std) by Box-Muller: block (counter + i/2). Uses ceil(n/2) blocks.
void philox_normal(DType dt, uint64_t seed, uint64_t counter, int64_t n, void* out, double mean,
                   double std);

}  // namespace cadenza::kernels
