#pragma once
// Indexing kernels on contiguous buffers viewed as [outer, N, inner] along the
// indexed dim. Indices are int64 and already checked to be in range.
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

// out[o, l, i] = x[o, idx[l], i];  x: [outer, N, inner], out: [outer, L, inner]
void index_select_forward(DType dt, int64_t outer, int64_t N, int64_t inner, const void* x,
                          const int64_t* idx, int64_t L, void* out);
// out[o, idx[l], i] += src[o, l, i]  (out already holds the base values)
void index_add_forward(DType dt, int64_t outer, int64_t N, int64_t inner, void* out,
                       const int64_t* idx, int64_t L, const void* src);
// out[o, l, i] = x[o, idx[o, l, i], i];  idx and out: [outer, L, inner]
void gather_forward(DType dt, int64_t outer, int64_t N, int64_t inner, const void* x,
                    const int64_t* idx, int64_t L, void* out);
// out[o, idx[o, l, i], i] += src[o, l, i]
void scatter_add_forward(DType dt, int64_t outer, int64_t N, int64_t inner, void* out,
                         const int64_t* idx, int64_t L, const void* src);

}  // namespace cadenza::kernels
