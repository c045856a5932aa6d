#include "kernels/cpu/reduce.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace cadenza::kernels {
namespace {

// Wider accumulator for sums, so long f32 rows do not drift.
template <class T> struct Acc { using type = T; };
template <> struct Acc<float> { using type = double; };

template <class T>
void sum_typed(int64_t outer, int64_t R, int64_t inner, const T* x, T* out) {
  using A = typename Acc<T>::type;
  if (inner == 1) {
#pragma omp parallel for if (outer * R > 32768) schedule(static)
    for (int64_t o = 0; o < outer; ++o) {
      const T* row = x + o * R;
      A s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t r = 0;
      for (; r + 4 <= R; r += 4) {
        s0 += row[r];
        s1 += row[r + 1];
        s2 += row[r + 2];
        s3 += row[r + 3];
      }
      for (; r < R; ++r) s0 += row[r];
      out[o] = static_cast<T>((s0 + s1) + (s2 + s3));
    }
    return;
  }
  // Columns: accumulate rows into a wide buffer per (outer, inner block).
  const int64_t block = 256;
  const int64_t nblocks = (inner + block - 1) / block;
#pragma omp parallel for collapse(2) if (outer * R * inner > 32768) schedule(static)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t b = 0; b < nblocks; ++b) {
      const int64_t i0 = b * block, i1 = std::min(inner, i0 + block);
      A acc[block];
      for (int64_t i = i0; i < i1; ++i) acc[i - i0] = 0;
      for (int64_t r = 0; r < R; ++r) {
        const T* row = x + (o * R + r) * inner;
        for (int64_t i = i0; i < i1; ++i) acc[i - i0] += row[i];
      }
      for (int64_t i = i0; i < i1; ++i) out[o * inner + i] = static_cast<T>(acc[i - i0]);
    }
  }
}

// NaN wins a max/min, as in PyTorch.
template <class T> bool better(T cand, T cur, bool is_max) {
  if (std::isnan(static_cast<double>(cur))) return false;
  if (std::isnan(static_cast<double>(cand))) return true;
  return is_max ? cand > cur : cand < cur;
}

template <class T>
void extreme_typed(bool is_max, bool want_index, int64_t outer, int64_t R, int64_t inner,
                   const T* x, void* out) {
#pragma omp parallel for collapse(2) if (outer * R * inner > 32768) schedule(static)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const T* p = x + o * R * inner + i;
      T best = p[0];
      int64_t bi = 0;
      for (int64_t r = 1; r < R; ++r) {
        T v = p[r * inner];
        if (better(v, best, is_max)) {
          best = v;
          bi = r;
        }
      }
      if (want_index)
        static_cast<int64_t*>(out)[o * inner + i] = bi;
      else
        static_cast<T*>(out)[o * inner + i] = best;
    }
  }
}

template <class T>
void reduce_typed(ReduceOp op, int64_t outer, int64_t R, int64_t inner, const void* x, void* out) {
  const T* in = static_cast<const T*>(x);
  switch (op) {
    case ReduceOp::sum: return sum_typed<T>(outer, R, inner, in, static_cast<T*>(out));
    case ReduceOp::max: return extreme_typed<T>(true, false, outer, R, inner, in, out);
    case ReduceOp::min: return extreme_typed<T>(false, false, outer, R, inner, in, out);
    case ReduceOp::argmax: return extreme_typed<T>(true, true, outer, R, inner, in, out);
    case ReduceOp::argmin: return extreme_typed<T>(false, true, outer, R, inner, in, out);
  }
}

}  // namespace

void reduce_forward(ReduceOp op, DType dt, int64_t outer, int64_t R, int64_t inner, const void* x,
                    void* out) {
  switch (dt) {
    case DType::f32: return reduce_typed<float>(op, outer, R, inner, x, out);
    case DType::f64: return reduce_typed<double>(op, outer, R, inner, x, out);
    case DType::i32: return reduce_typed<int32_t>(op, outer, R, inner, x, out);
    case DType::i64: return reduce_typed<int64_t>(op, outer, R, inner, x, out);
  }
}

}  // namespace cadenza::kernels
