#pragma once
// Indexing kernels on CUDA, with kernels/cpu/index.h's signatures: contiguous
// device buffers viewed as [outer, N, inner] along the indexed dim, and idx a
// device pointer to int64 indices the front end has checked to be in range.
// Several sources may hit one destination, so the adds are atomicAdd: their
// order, and so a float sum's last bits, varies from run to run; integer
// sums are exact (i64 adds as unsigned 64-bit, which wraps as the CPU's
// two's complement does). All four dtypes.
#include "kernels/cpu/index.h"

namespace cadenza::kernels::cuda {

// What each computes: kernels/cpu/index.h.
void index_select_forward(DType dt, int64_t outer, int64_t N, int64_t inner, const void* x,
                          const int64_t* idx, int64_t L, void* out);
void index_add_forward(DType dt, int64_t outer, int64_t N, int64_t inner, void* out,
                       const int64_t* idx, int64_t L, const void* src);
void gather_forward(DType dt, int64_t outer, int64_t N, int64_t inner, const void* x,
                    const int64_t* idx, int64_t L, void* out);
void scatter_add_forward(DType dt, int64_t outer, int64_t N, int64_t inner, void* out,
                         const int64_t* idx, int64_t L, const void* src);

}  // namespace cadenza::kernels::cuda
