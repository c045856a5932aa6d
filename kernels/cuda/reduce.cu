#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/scratch.h"

namespace cadenza::kernels::cuda {

namespace {

template <class T>
__device__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return isnan(v);
  else
    return false;
}

// Which of (a, ia) and (b, ib) wins a max (or min): a NaN over a number, the
// larger (smaller) value, and on a tie the lower index.
template <class T>
__device__ bool first_wins(T a, int64_t ia, T b, int64_t ib, bool is_max) {
  const bool na = is_nan(a), nb = is_nan(b);
  if (na || nb) return na && (!nb || ia < ib);
  if (a == b) return ia < ib;
  return is_max ? a > b : a < b;
}

// Every launch reduces rows [r0, r1) of R, the `chunk` of `chunks` equal
// ranges, for each output j in [n), and writes element chunk * n + j of
// its result: the outputs themselves when chunks == 1, else partials that
// a second kernel combines in chunk order. No atomics, so a launch gives
// the same bits every time.
struct Rows {
  int64_t R, chunks;
  __device__ int64_t begin(int64_t c) const { return R * c / chunks; }
};

// ---- The row path: inner < kColumnMinInner, so an output's elements are
// (nearly) neighbours. A warp per (output, range), combined by shuffles.
template <class T, class Out>
__global__ void sum_rows_kernel(int64_t n, int64_t inner, Rows rows, const T* x, Out* out) {
  using A = typename Acc<T>::type;
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  const int lane = threadIdx.x % 32;
  for (int64_t w = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32; w < n * rows.chunks;
       w += warps) {
    const int64_t c = w / n, j = w % n, o = j / inner, i = j % inner;
    const T* p = x + o * rows.R * inner + i;
    A s = 0;
    for (int64_t r = rows.begin(c) + lane; r < rows.begin(c + 1); r += 32)
      s += static_cast<A>(p[r * inner]);
    for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
    if (lane == 0) out[w] = static_cast<Out>(s);
  }
}

// The max (or min) and its row: first_wins orders the candidates
// completely (a NaN first, then the value, then the lower row), so the
// order they meet in does not matter. `best` or `index` may be null.
template <class T>
__global__ void extreme_rows_kernel(bool is_max, int64_t n, int64_t inner, Rows rows, const T* x,
                                    T* best_out, int64_t* index_out) {
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  const int lane = threadIdx.x % 32;
  for (int64_t w = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32; w < n * rows.chunks;
       w += warps) {
    const int64_t c = w / n, j = w % n, o = j / inner, i = j % inner;
    const T* p = x + o * rows.R * inner + i;
    int64_t bi = rows.begin(c);  // every range holds a row
    T best = p[bi * inner];
    for (int64_t r = bi + lane; r < rows.begin(c + 1); r += 32) {
      const T v = p[r * inner];
      if (first_wins(v, r, best, bi, is_max)) {
        best = v;
        bi = r;
      }
    }
    for (int off = 16; off > 0; off /= 2) {
      const T ov = __shfl_down_sync(0xffffffffu, best, off);
      const int64_t oi = __shfl_down_sync(0xffffffffu, bi, off);
      if (first_wins(ov, oi, best, bi, is_max)) {
        best = ov;
        bi = oi;
      }
    }
    if (lane == 0) {
      if (best_out) best_out[w] = best;
      if (index_out) index_out[w] = bi;
    }
  }
}

// ---- The column path: inner >= kColumnMinInner, so an output's elements
// are `inner` apart while neighbouring outputs are neighbours in memory (a
// warp per output would read a separate sector per lane). A block is a
// tile of 32 neighbouring outputs (the lanes) by 8 row groups (the warps):
// each warp reads 32 neighbouring words per row, and the groups combine in
// group order through shared memory.
constexpr int kColRows = kThreads / 32;

template <class T, class Out>
__global__ void sum_columns_kernel(int64_t outer, int64_t inner, Rows rows, const T* x, Out* out) {
  using A = typename Acc<T>::type;
  __shared__ A part[kThreads];  // [row group][lane]
  const int lane = threadIdx.x % 32, group = threadIdx.x / 32;
  const int64_t tiles = (inner + 31) / 32, c = blockIdx.y, n = outer * inner;
  const int64_t r0 = rows.begin(c), r1 = rows.begin(c + 1);
  for (int64_t b = blockIdx.x; b < outer * tiles; b += gridDim.x) {
    const int64_t o = b / tiles, i = b % tiles * 32 + lane;
    A s = 0;
    if (i < inner) {
      const T* p = x + o * rows.R * inner + i;
      for (int64_t r = r0 + group; r < r1; r += kColRows) s += static_cast<A>(p[r * inner]);
    }
    part[threadIdx.x] = s;
    __syncthreads();
    if (group == 0 && i < inner) {
      for (int k = 1; k < kColRows; ++k) s += part[k * 32 + lane];
      out[c * n + o * inner + i] = static_cast<Out>(s);
    }
    __syncthreads();
  }
}

template <class T>
__global__ void extreme_columns_kernel(bool is_max, int64_t outer, int64_t inner, Rows rows,
                                       const T* x, T* best_out, int64_t* index_out) {
  __shared__ T pv[kThreads];  // [row group][lane]
  __shared__ int64_t pi[kThreads];
  const int lane = threadIdx.x % 32, group = threadIdx.x / 32;
  const int64_t tiles = (inner + 31) / 32, c = blockIdx.y, n = outer * inner;
  const int64_t r0 = rows.begin(c), r1 = rows.begin(c + 1);
  for (int64_t b = blockIdx.x; b < outer * tiles; b += gridDim.x) {
    const int64_t o = b / tiles, i = b % tiles * 32 + lane;
    // A row group with no row in the range (it has fewer than kColRows)
    // offers row -1; group 0 always has one.
    T best{};
    int64_t bi = -1;
    if (i < inner && r0 + group < r1) {
      const T* p = x + o * rows.R * inner + i;
      bi = r0 + group;
      best = p[bi * inner];
      for (int64_t r = bi + kColRows; r < r1; r += kColRows) {
        const T v = p[r * inner];
        if (first_wins(v, r, best, bi, is_max)) {
          best = v;
          bi = r;
        }
      }
    }
    pv[threadIdx.x] = best;
    pi[threadIdx.x] = bi;
    __syncthreads();
    if (group == 0 && i < inner) {
      for (int k = 1; k < kColRows; ++k) {
        const int at = k * 32 + lane;
        if (pi[at] >= 0 && first_wins(pv[at], pi[at], best, bi, is_max)) {
          best = pv[at];
          bi = pi[at];
        }
      }
      const int64_t at = c * n + o * inner + i;
      if (best_out) best_out[at] = best;
      if (index_out) index_out[at] = bi;
    }
    __syncthreads();
  }
}

// ---- Combining the ranges' partials [chunks][n], in chunk order.
template <class T, class A>
__global__ void sum_chunks_kernel(int64_t n, int64_t chunks, const A* part, T* out) {
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < n;
       j += int64_t{gridDim.x} * blockDim.x) {
    A s = 0;
    for (int64_t c = 0; c < chunks; ++c) s += part[c * n + j];
    out[j] = static_cast<T>(s);
  }
}

template <class T>
__global__ void extreme_chunks_kernel(bool is_max, int64_t n, int64_t chunks, const T* pv,
                                      const int64_t* pi, T* best_out, int64_t* index_out) {
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < n;
       j += int64_t{gridDim.x} * blockDim.x) {
    T best = pv[j];
    int64_t bi = pi[j];
    for (int64_t c = 1; c < chunks; ++c)
      if (first_wins(pv[c * n + j], pi[c * n + j], best, bi, is_max)) {
        best = pv[c * n + j];
        bi = pi[c * n + j];
      }
    if (best_out) best_out[j] = best;
    if (index_out) index_out[j] = bi;
  }
}

// Below this many neighbouring outputs a warp per output reads about as
// well as the column tiles, whose idle lanes would then dominate.
constexpr int64_t kColumnMinInner = 8;

// How many ranges to cut R into so that `units` (warps or blocks) of
// independent work become about `want`, each range keeping at least
// `min_rows` rows; at most 65535 (the grid's y limit, which the column
// path puts them on).
int64_t chunks_for(int64_t units, int64_t want, int64_t R, int64_t min_rows) {
  const int64_t chunks = std::min<int64_t>((want + units - 1) / units, R / min_rows);
  return std::max<int64_t>(1, std::min<int64_t>(chunks, 65535));
}

template <class T>
void typed(ReduceOp op, int64_t outer, int64_t R, int64_t inner, const T* x, void* out) {
  using A = typename Acc<T>::type;
  int device = 0, sms = 0;
  CADENZA_CUDA_CHECK(cudaGetDevice(&device));
  CADENZA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  const int64_t n = outer * inner, per_block = kThreads / 32;
  const bool columns = inner >= kColumnMinInner;
  // Four blocks per multiprocessor; a range keeps 64 rows a block (8 a
  // warp of the tile) or 256 a warp (8 a lane).
  const int64_t col_blocks = std::min<int64_t>(outer * ((inner + 31) / 32), 65535);
  const int64_t chunks = columns ? chunks_for(col_blocks, 4 * int64_t{sms}, R, 64)
                                 : chunks_for(n, 4 * int64_t{sms} * per_block, R, 256);
  const Rows rows{R, chunks};
  const cudaStream_t stream = current_stream();
  const dim3 col_grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(chunks));
  const int row_grid = grid_for(n * chunks * 32);

  if (op == ReduceOp::sum) {
    T* dst = static_cast<T*>(out);
    auto launch = [&](auto* sink) {
      using Out = std::remove_pointer_t<decltype(sink)>;
      if (columns)
        sum_columns_kernel<T, Out><<<col_grid, kThreads, 0, stream>>>(outer, inner, rows, x, sink);
      else
        sum_rows_kernel<T, Out><<<row_grid, kThreads, 0, stream>>>(n, inner, rows, x, sink);
    };
    if (chunks == 1) return launch(dst);
    Scratch part(static_cast<size_t>(chunks * n) * sizeof(A), "reduce_forward", "partial sums");
    launch(part.as<A>());
    sum_chunks_kernel<T, A><<<grid_for(n), kThreads, 0, stream>>>(n, chunks, part.as<A>(), dst);
    return;
  }
  const bool is_max = op == ReduceOp::max || op == ReduceOp::argmax;
  const bool want_index = op == ReduceOp::argmax || op == ReduceOp::argmin;
  T* best = want_index ? nullptr : static_cast<T*>(out);
  int64_t* index = want_index ? static_cast<int64_t*>(out) : nullptr;
  auto launch = [&](T* b, int64_t* i) {
    if (columns)
      extreme_columns_kernel<T>
          <<<col_grid, kThreads, 0, stream>>>(is_max, outer, inner, rows, x, b, i);
    else
      extreme_rows_kernel<T><<<row_grid, kThreads, 0, stream>>>(is_max, n, inner, rows, x, b, i);
  };
  if (chunks == 1) return launch(best, index);
  Scratch pv(static_cast<size_t>(chunks * n) * sizeof(T), "reduce_forward", "partial extremes");
  Scratch pi(static_cast<size_t>(chunks * n) * sizeof(int64_t), "reduce_forward", "partial rows");
  launch(pv.as<T>(), pi.as<int64_t>());
  extreme_chunks_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(is_max, n, chunks, pv.as<T>(),
                                                                 pi.as<int64_t>(), best, index);
}

}  // namespace

void reduce_forward(ReduceOp op, DType dt, int64_t outer, int64_t R, int64_t inner, const void* x,
                    void* out) {
  if (outer * inner == 0) return;
  if (R == 0 && op != ReduceOp::sum)
    throw std::invalid_argument("reduce_forward (cuda): the extreme of an empty dim");
  switch (dt) {
    case DType::f32:
      typed(op, outer, R, inner, static_cast<const float*>(x), out);
      break;
    case DType::f64:
      typed(op, outer, R, inner, static_cast<const double*>(x), out);
      break;
    case DType::i32:
      typed(op, outer, R, inner, static_cast<const int32_t*>(x), out);
      break;
    case DType::i64:
      typed(op, outer, R, inner, static_cast<const int64_t*>(x), out);
      break;
  }
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cadenza::kernels::cuda
