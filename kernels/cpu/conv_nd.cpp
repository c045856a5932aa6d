#include "kernels/cpu/conv_nd.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/matmul.h"

namespace cadenza::kernels {

namespace {

// Column blocks are whole rows of the output's last dim (an (od, oh) pair
// each), sized so a block's column matrix stays near 2 MB in f32: large
// enough for the GEMM to run at speed, small enough to stay in L2/L3.
constexpr int64_t kColumnBudget = int64_t(1) << 19;

struct Plan {
  int64_t rows;      // output rows: out[0] * out[1]
  int64_t W;         // columns per row: out[2]
  int64_t rows_per;  // rows per block
  int64_t blocks;    // per sample
  int64_t depth;     // Cin * kernel volume: the GEMM depth of the forward
  bool identity;     // 1x1x1 kernel, stride 1, no padding: x is its own column matrix
  bool disjoint;     // no two (output, tap) pairs read the same input element
  bool permutation;  // kernel == stride, no padding or dilation: the columns reorder x
};

Plan plan_of(const ConvNdShape& s) {
  Plan p;
  p.rows = s.out[0] * s.out[1];
  p.W = s.out[2];
  p.depth = s.Cin * s.kernel_volume();
  p.identity = true;
  p.disjoint = true;
  p.permutation = true;
  for (int d = 0; d < 3; ++d) {
    // (An output larger than the tiled input, from output_padding, reads
    // past it: that case takes the general path, which zero-fills.)
    if (s.stride[d] != s.k[d] || s.pad[d] != 0 || (s.k[d] > 1 && s.dilation[d] != 1) ||
        s.out[d] * s.k[d] > s.in[d])
      p.permutation = false;
    if (s.k[d] != 1 || s.stride[d] != 1 || s.pad[d] != 0) p.identity = false;
    // Taps of one output are closer than the stride: windows never overlap.
    if (s.stride[d] < s.dilation[d] * (s.k[d] - 1) + 1) p.disjoint = false;
  }
  // The identity case needs equal input and output sizes (always so unless
  // the caller asked for a transposed output with output_padding).
  for (int d = 0; d < 3; ++d)
    if (s.in[d] != s.out[d]) p.identity = false;
  const int64_t per_row = std::max<int64_t>(1, p.depth * p.W);
  p.rows_per = std::max<int64_t>(1, std::min(p.rows, kColumnBudget / per_row));
  p.blocks = p.rows == 0 ? 0 : (p.rows + p.rows_per - 1) / p.rows_per;
  return p;
}

// The output columns ow in [*lo, *hi) whose input position ow * stride + off
// lies in [0, n).
void valid_range(int64_t off, int64_t stride, int64_t n, int64_t W, int64_t* lo, int64_t* hi) {
  int64_t a = off >= 0 ? 0 : (-off + stride - 1) / stride;
  int64_t b = n - 1 - off < 0 ? 0 : (n - 1 - off) / stride + 1;
  *lo = std::min(a, W);
  *hi = std::max(*lo, std::min(b, W));
}

// Walks the column matrix of output rows [r0, r1) of one sample: for each
// (channel, tap) row of the matrix and each output row, calls
// f(dst_row, src_row_or_null, lo, hi, step, shift): dst_row holds W columns,
// column ow in [lo, hi) pairs with src_row[ow * step + shift]; the rest pair
// with padding. vol2col and col2vol differ only in what f does.
template <class T, class Src, class F>
void walk_columns(const ConvNdShape& s, Src* xb, int64_t r0, int64_t r1, T* col, F f) {
  const int64_t W = s.out[2], ncol = (r1 - r0) * W;
  const int64_t in_plane = s.in[1] * s.in[2], in_vol = s.in_volume();
  int64_t q = 0;
  for (int64_t c = 0; c < s.Cin; ++c)
    for (int64_t kd = 0; kd < s.k[0]; ++kd)
      for (int64_t kh = 0; kh < s.k[1]; ++kh)
        for (int64_t kw = 0; kw < s.k[2]; ++kw, ++q) {
          const int64_t shift = kw * s.dilation[2] - s.pad[2];
          int64_t lo, hi;
          valid_range(shift, s.stride[2], s.in[2], W, &lo, &hi);
          T* dst = col + q * ncol;
          for (int64_t r = r0; r < r1; ++r) {
            const int64_t od = r / s.out[1], oh = r % s.out[1];
            const int64_t id = od * s.stride[0] - s.pad[0] + kd * s.dilation[0];
            const int64_t ih = oh * s.stride[1] - s.pad[1] + kh * s.dilation[1];
            T* d = dst + (r - r0) * W;
            if (id < 0 || id >= s.in[0] || ih < 0 || ih >= s.in[1]) {
              f(d, static_cast<Src*>(nullptr), 0, 0, s.stride[2], shift);
              continue;
            }
            f(d, xb + c * in_vol + id * in_plane + ih * s.in[2], lo, hi, s.stride[2], shift);
          }
        }
}

template <class T>
void vol2col(const ConvNdShape& s, const T* xb, int64_t r0, int64_t r1, T* col) {
  const int64_t W = s.out[2];
  walk_columns<T, const T>(
      s, xb, r0, r1, col,
      [W](T* d, const T* src, int64_t lo, int64_t hi, int64_t step, int64_t shift) {
        // Indices, not shifted pointers: src is null for a padding row, and
        // src + shift may point before the row's buffer.
        std::fill(d, d + lo, T(0));
        if (src && lo < hi && step == 1) {
          std::copy(src + (lo + shift), src + (hi + shift), d + lo);
        } else if (src) {
          for (int64_t ow = lo; ow < hi; ++ow) d[ow] = src[ow * step + shift];
        }
        std::fill(d + hi, d + W, T(0));
      });
}

// Adds the column matrix back into the input's positions (the adjoint of
// vol2col). With disjoint windows every input element is written at most once.
template <class T>
void col2vol(const ConvNdShape& s, T* dxb, int64_t r0, int64_t r1, T* col) {
  walk_columns<T, T>(s, dxb, r0, r1, col,
                     [](T* d, T* dst, int64_t lo, int64_t hi, int64_t step, int64_t shift) {
                       if (!dst) return;
                       for (int64_t ow = lo; ow < hi; ++ow) dst[ow * step + shift] += d[ow];
                     });
}

// vol2col (kScatter false) or col2vol (true) when the windows tile the input
// without overlap or gaps (MusicGAN's (1, 1, 12) and (1, 3, 1) kernels): every
// used input element is one column entry. The input is read a row at a time
// (contiguous), each kw tap going to its own column row; the scatter writes
// each input element once, so it assigns instead of adding.
template <bool kScatter, class T, class V>
void permute_columns(const ConvNdShape& s, V* vol, int64_t r0, int64_t r1, T* col) {
  const int64_t W = s.out[2], ncol = (r1 - r0) * W, kD = s.k[0], kH = s.k[1], kW = s.k[2];
  const int64_t in_plane = s.in[1] * s.in[2], in_vol = s.in_volume();
  for (int64_t c = 0; c < s.Cin; ++c)
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t od = r / s.out[1], oh = r % s.out[1];
      for (int64_t kd = 0; kd < kD; ++kd)
        for (int64_t kh = 0; kh < kH; ++kh) {
          V* src = vol + c * in_vol + (od * kD + kd) * in_plane + (oh * kH + kh) * s.in[2];
          T* dst = col + ((c * kD + kd) * kH + kh) * kW * ncol + (r - r0) * W;
          for (int64_t ow = 0; ow < W; ++ow)
            for (int64_t kw = 0; kw < kW; ++kw) {
              if constexpr (kScatter)
                src[ow * kW + kw] = dst[kw * ncol + ow];
              else
                dst[kw * ncol + ow] = src[ow * kW + kw];
            }
        }
    }
}

// Runs body(tid, item) over items = B * blocks. Few items run one after the
// other so each GEMM can use every thread; many are spread over the threads
// with single-threaded GEMMs inside. `fixed`: each thread takes a fixed
// contiguous range of items, so per-thread partial sums add up the same way
// on every run (an exact resume depends on it); else items go to whichever
// thread is free.
template <class F>
void for_items(int64_t items, F body, bool fixed = false) {
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads == 1 || items < 2 * threads) {
    for (int64_t i = 0; i < items; ++i) body(0, i);
    return;
  }
  if (fixed) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < items; ++i) body(omp_get_thread_num(), i);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < items; ++i) body(omp_get_thread_num(), i);
}

template <class T>
DType dtype_of() {
  return sizeof(T) == 4 ? DType::f32 : DType::f64;
}

// The column matrix of output rows [r0, r1) of one sample xb: the input
// itself for a 1x1x1 kernel, else unfolded into `col`. *ld: its row stride.
template <class T>
const T* columns(const ConvNdShape& s, const Plan& p, const T* xb, int64_t r0, int64_t r1, std::vector<T>& col,
                 int64_t* ld) {
  const int64_t ncol = (r1 - r0) * p.W;
  if (p.identity) {
    *ld = s.in_volume();
    return xb + r0 * p.W;
  }
  col.resize(static_cast<size_t>(p.depth * ncol));
  if (p.permutation)
    permute_columns<false>(s, xb, r0, r1, col.data());
  else
    vol2col(s, xb, r0, r1, col.data());
  *ld = ncol;
  return col.data();
}

template <class T>
void forward(const ConvNdShape& s, const T* x, const T* w, const T* bias, T* y) {
  const Plan p = plan_of(s);
  const int64_t Lin = s.in_volume(), Lout = s.out_volume();
  for_items(s.B * p.blocks, [&](int, int64_t i) {
    thread_local std::vector<T> col;
    const int64_t b = i / p.blocks, r0 = (i % p.blocks) * p.rows_per,
                  r1 = std::min(p.rows, r0 + p.rows_per);
    const int64_t c0 = r0 * p.W, ncol = (r1 - r0) * p.W;
    const T* xb = x + b * s.Cin * Lin;
    T* yb = y + b * s.Cout * Lout + c0;
    int64_t ldc = 0;
    const T* cols = columns(s, p, xb, r0, r1, col, &ldc);
    gemm(dtype_of<T>(), false, false, s.Cout, ncol, p.depth, 1.0, w, p.depth, cols, ldc, 0.0, yb,
         Lout);
    if (bias)
      for (int64_t o = 0; o < s.Cout; ++o)
        for (int64_t j = 0; j < ncol; ++j) yb[o * Lout + j] += bias[o];
  });
}

template <class T>
void backward_input(const ConvNdShape& s, const T* g, const T* w, T* dx) {
  const Plan p = plan_of(s);
  const int64_t Lin = s.in_volume(), Lout = s.out_volume();
  if (!p.identity) std::memset(dx, 0, sizeof(T) * static_cast<size_t>(s.B * s.Cin * Lin));
  // Overlapping windows make two blocks of one sample add into the same
  // input elements, so then a sample's blocks stay on one thread.
  const int64_t per_item = p.disjoint ? 1 : p.blocks;
  const int64_t items = s.B * p.blocks / per_item;
  for_items(items, [&](int, int64_t item) {
    thread_local std::vector<T> col;
    for (int64_t i = item * per_item; i < (item + 1) * per_item; ++i) {
      const int64_t b = i / p.blocks, r0 = (i % p.blocks) * p.rows_per,
                    r1 = std::min(p.rows, r0 + p.rows_per);
      const int64_t c0 = r0 * p.W, ncol = (r1 - r0) * p.W;
      const T* gb = g + b * s.Cout * Lout + c0;
      T* dxb = dx + b * s.Cin * Lin;
      if (p.identity) {
        gemm(dtype_of<T>(), true, false, s.Cin, ncol, s.Cout, 1.0, w, p.depth, gb, Lout, 0.0,
             dxb + c0, Lin);
        continue;
      }
      col.resize(static_cast<size_t>(p.depth * ncol));
      gemm(dtype_of<T>(), true, false, p.depth, ncol, s.Cout, 1.0, w, p.depth, gb, Lout, 0.0,
           col.data(), ncol);
      if (p.permutation)
        permute_columns<true>(s, dxb, r0, r1, col.data());
      else
        col2vol(s, dxb, r0, r1, col.data());
    }
  });
}

template <class T>
void backward_weight(const ConvNdShape& s, const T* g, const T* x, T* dw) {
  const Plan p = plan_of(s);
  const int64_t Lin = s.in_volume(), Lout = s.out_volume(), n = s.Cout * p.depth;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  // One partial sum per thread, added up at the end (the weight gradient
  // reduces over batch and space, which is where the parallelism is).
  std::vector<std::vector<T>> partial(static_cast<size_t>(threads));
  for_items(s.B * p.blocks, [&](int tid, int64_t i) {
    thread_local std::vector<T> col;
    std::vector<T>& acc = partial[static_cast<size_t>(tid)];
    if (acc.empty()) acc.assign(static_cast<size_t>(n), T(0));
    const int64_t b = i / p.blocks, r0 = (i % p.blocks) * p.rows_per,
                  r1 = std::min(p.rows, r0 + p.rows_per);
    const int64_t c0 = r0 * p.W, ncol = (r1 - r0) * p.W;
    const T* xb = x + b * s.Cin * Lin;
    int64_t ldb = 0;
    const T* cols = columns(s, p, xb, r0, r1, col, &ldb);
    gemm(dtype_of<T>(), false, true, s.Cout, p.depth, ncol, 1.0, g + b * s.Cout * Lout + c0, Lout,
         cols, ldb, 1.0, acc.data(), p.depth);
  }, /*fixed=*/true);
  std::fill(dw, dw + n, T(0));
  for (const auto& acc : partial)
    if (!acc.empty())
      for (int64_t j = 0; j < n; ++j) dw[j] += acc[j];
}

template <class T>
void backward_bias(const ConvNdShape& s, const T* g, T* db) {
  const int64_t L = s.out_volume();
#pragma omp parallel for schedule(static) if (!omp_in_parallel() && s.Cout * s.B * L > 32768)
  for (int64_t o = 0; o < s.Cout; ++o) {
    T acc = 0;
    for (int64_t b = 0; b < s.B; ++b) {
      const T* row = g + (b * s.Cout + o) * L;
      T part = 0;
#pragma omp simd reduction(+ : part)
      for (int64_t t = 0; t < L; ++t) part += row[t];
      acc += part;
    }
    db[o] = acc;
  }
}

}  // namespace

void conv_nd_forward(DType dt, const ConvNdShape& s, const void* x, const void* w, const void* bias,
                     void* y) {
  if (dt == DType::f32)
    forward(s, static_cast<const float*>(x), static_cast<const float*>(w),
            static_cast<const float*>(bias), static_cast<float*>(y));
  else
    forward(s, static_cast<const double*>(x), static_cast<const double*>(w),
            static_cast<const double*>(bias), static_cast<double*>(y));
}

void conv_nd_backward_input(DType dt, const ConvNdShape& s, const void* g, const void* w,
                            void* dx) {
  if (dt == DType::f32)
    backward_input(s, static_cast<const float*>(g), static_cast<const float*>(w),
                   static_cast<float*>(dx));
  else
    backward_input(s, static_cast<const double*>(g), static_cast<const double*>(w),
                   static_cast<double*>(dx));
}

void conv_nd_backward_weight(DType dt, const ConvNdShape& s, const void* g, const void* x,
                             void* dw) {
  if (dt == DType::f32)
    backward_weight(s, static_cast<const float*>(g), static_cast<const float*>(x),
                    static_cast<float*>(dw));
  else
    backward_weight(s, static_cast<const double*>(g), static_cast<const double*>(x),
                    static_cast<double*>(dw));
}

void conv_nd_backward_bias(DType dt, const ConvNdShape& s, const void* g, void* db) {
  if (dt == DType::f32)
    backward_bias(s, static_cast<const float*>(g), static_cast<float*>(db));
  else
    backward_bias(s, static_cast<const double*>(g), static_cast<double*>(db));
}

}  // namespace cadenza::kernels
