#include <cstdlib>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/launch.h"
#include "kernels/elementwise_math.h"
#include "kernels/strided_layout.h"

namespace cadenza::kernels::cuda {

namespace {

constexpr int kMaxDims = 8;
constexpr int kPack = 4;  // elements a thread takes at once on the packed path

// Four consecutive elements, loaded and stored as one or two 16-byte
// accesses.
template <class T>
struct alignas(sizeof(T) * kPack > 16 ? 16 : sizeof(T) * kPack) Pack {
  T v[kPack];
};

// Elements [i, i + 4) of an operand whose stride is 1 (unit) or 0 (the same
// element four times).
template <class T>
__device__ __forceinline__ Pack<T> load_pack(const T* p, int64_t i, bool unit) {
  if (unit) return *reinterpret_cast<const Pack<T>*>(p + i);
  Pack<T> r;
  const T v = *p;
  for (int j = 0; j < kPack; ++j) r.v[j] = v;
  return r;
}

// Each op as a functor over its typed operands, output last (`bytes`: their
// element sizes): at() computes
// one element from the operands' element offsets, pack() the elements
// [i, i + 4) of operands that are all unit-stride or broadcast (bit k of
// `unit` set: operand k has stride 1).
template <class T>
struct UnaryF {
  static constexpr int N = 2;
  static constexpr int64_t bytes[N] = {sizeof(T), sizeof(T)};
  UnaryOp op;
  double p0, p1;
  const T* x;
  T* out;
  __device__ void at(const int64_t (&o)[N]) const {
    out[o[1]] = kmath::unary_value<T>(op, x[o[0]], p0, p1);
  }
  __device__ void pack(int64_t i, unsigned unit) const {
    Pack<T> r = load_pack(x, i, unit & 1u);
    for (int j = 0; j < kPack; ++j) r.v[j] = kmath::unary_value<T>(op, r.v[j], p0, p1);
    *reinterpret_cast<Pack<T>*>(out + i) = r;
  }
};

template <class T>
struct BinaryF {
  static constexpr int N = 3;
  static constexpr int64_t bytes[N] = {sizeof(T), sizeof(T), sizeof(T)};
  BinaryOp op;
  const T* a;
  const T* b;
  T* out;
  __device__ void at(const int64_t (&o)[N]) const {
    out[o[2]] = kmath::binary_value<T>(op, a[o[0]], b[o[1]]);
  }
  __device__ void pack(int64_t i, unsigned unit) const {
    Pack<T> x = load_pack(a, i, unit & 1u);
    const Pack<T> y = load_pack(b, i, unit & 2u);
    for (int j = 0; j < kPack; ++j) x.v[j] = kmath::binary_value<T>(op, x.v[j], y.v[j]);
    *reinterpret_cast<Pack<T>*>(out + i) = x;
  }
};

template <class C, class T>
struct WhereF {
  static constexpr int N = 4;
  static constexpr int64_t bytes[N] = {sizeof(C), sizeof(T), sizeof(T), sizeof(T)};
  const C* cond;
  const T* a;
  const T* b;
  T* out;
  __device__ void at(const int64_t (&o)[N]) const {
    out[o[3]] = cond[o[0]] != C(0) ? a[o[1]] : b[o[2]];
  }
  __device__ void pack(int64_t i, unsigned unit) const {
    const Pack<C> c = load_pack(cond, i, unit & 1u);
    Pack<T> x = load_pack(a, i, unit & 2u);
    const Pack<T> y = load_pack(b, i, unit & 4u);
    for (int j = 0; j < kPack; ++j) x.v[j] = c.v[j] != C(0) ? x.v[j] : y.v[j];
    *reinterpret_cast<Pack<T>*>(out + i) = x;
  }
};

template <class S, class D>
struct CastF {
  static constexpr int N = 2;
  static constexpr int64_t bytes[N] = {sizeof(S), sizeof(D)};
  const S* src;
  D* dst;
  __device__ void at(const int64_t (&o)[N]) const { dst[o[1]] = static_cast<D>(src[o[0]]); }
  __device__ void pack(int64_t i, unsigned unit) const {
    const Pack<S> s = load_pack(src, i, unit & 1u);
    Pack<D> r;
    for (int j = 0; j < kPack; ++j) r.v[j] = static_cast<D>(s.v[j]);
    *reinterpret_cast<Pack<D>*>(dst + i) = r;
  }
};

template <class T>
struct FillF {
  static constexpr int N = 1;
  static constexpr int64_t bytes[N] = {sizeof(T)};
  T* dst;
  T value;
  __device__ void at(const int64_t (&o)[N]) const { dst[o[0]] = value; }
  __device__ void pack(int64_t i, unsigned) const {
    Pack<T> r;
    for (int j = 0; j < kPack; ++j) r.v[j] = value;
    *reinterpret_cast<Pack<T>*>(dst + i) = r;
  }
};

// The coalesced layout of a launch, in elements, by value.
template <int N>
struct Geometry {
  int ndim = 0;
  int64_t n = 1;
  int64_t shape[kMaxDims];
  int64_t strides[N][kMaxDims];
  kmath::FastDiv div[kMaxDims];  // by shape[d], for the 32-bit path
};

// Every operand unit-stride or broadcast along one dim, the output
// unit-stride, and the unit-stride ones aligned for 16-byte accesses: four
// elements a thread, no index arithmetic; the last n % 4 one each.
template <class F>
__global__ void packed_kernel(F f, int64_t n, unsigned unit) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x,
                first = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  const int64_t packs = n / kPack;
  for (int64_t p = first; p < packs; p += step) f.pack(p * kPack, unit);
  for (int64_t i = packs * kPack + first; i < n; i += step) {
    int64_t o[F::N];
    for (int k = 0; k < F::N; ++k) o[k] = (unit >> k) & 1u ? i : 0;
    f.at(o);
  }
}

// Any strides, fewer than 2^31 elements: the multi-index by FastDiv.
template <class F>
__global__ void strided_kernel(F f, Geometry<F::N> g) {
  const uint32_t step = gridDim.x * blockDim.x;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < static_cast<uint32_t>(g.n);
       i += step) {
    int64_t o[F::N];
    for (int k = 0; k < F::N; ++k) o[k] = 0;
    uint32_t r = i;
    for (int d = g.ndim - 1; d > 0; --d) {
      const uint32_t q = g.div[d].div(r);
      const int64_t c = r - q * static_cast<uint32_t>(g.shape[d]);
      for (int k = 0; k < F::N; ++k) o[k] += c * g.strides[k][d];
      r = q;
    }
    for (int k = 0; k < F::N; ++k) o[k] += int64_t{r} * g.strides[k][0];
    f.at(o);
  }
}

// 2^31 elements or more: 64-bit division.
template <class F>
__global__ void strided64_kernel(F f, Geometry<F::N> g) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < g.n;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t o[F::N];
    for (int k = 0; k < F::N; ++k) o[k] = 0;
    int64_t r = i;
    for (int d = g.ndim - 1; d >= 0; --d) {
      const int64_t c = r % g.shape[d];
      r /= g.shape[d];
      for (int k = 0; k < F::N; ++k) o[k] += c * g.strides[k][d];
    }
    f.at(o);
  }
}

// A copy whose source is unit-stride along dim `da` but not along the last
// dim, where the destination is (a transpose made contiguous): the strided
// path would read one sector per lane. Each block moves a 32 x 32 tile
// through shared memory instead: read with the lanes along da, written
// with the lanes along the last dim (the tile padded a column against bank
// conflicts). The other dims and the tiles loop over the grid.
template <class S, class D>
__global__ void transpose_kernel(const S* src, D* dst, Geometry<2> g, int da) {
  __shared__ S tile[32 * 33];  // [b][a], element (a, b) of the tile
  const int db = g.ndim - 1;
  const int64_t A = g.shape[da], B = g.shape[db];
  const int64_t tiles_a = (A + 31) / 32, tiles_b = (B + 31) / 32;
  const int64_t tiles = g.n / (A * B) * tiles_a * tiles_b;
  const int lane = threadIdx.x % 32, row = threadIdx.x / 32, rows = blockDim.x / 32;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    int64_t rest = t;
    const int64_t b0 = rest % tiles_b * 32;
    rest /= tiles_b;
    const int64_t a0 = rest % tiles_a * 32;
    rest /= tiles_a;
    int64_t so = 0, dof = 0;  // the other dims' offsets
    for (int d = db - 1; d >= 0; --d) {
      if (d == da) continue;
      const int64_t c = rest % g.shape[d];
      rest /= g.shape[d];
      so += c * g.strides[0][d];
      dof += c * g.strides[1][d];
    }
    for (int r = row; r < 32; r += rows) {
      const int64_t a = a0 + lane, b = b0 + r;
      if (a < A && b < B) tile[r * 33 + lane] = src[so + a + b * g.strides[0][db]];
    }
    __syncthreads();
    for (int r = row; r < 32; r += rows) {
      const int64_t a = a0 + r, b = b0 + lane;
      if (a < A && b < B) dst[dof + a * g.strides[1][da] + b] = static_cast<D>(tile[lane * 33 + r]);
    }
    __syncthreads();  // the tile is refilled next
  }
}

template <class F>
struct IsCast : std::false_type {};
template <class S, class D>
struct IsCast<CastF<S, D>> : std::true_type {};

// The dim along which a copy's source is unit-stride while the destination
// is unit-stride along the last dim and the source is not: -1 if none.
inline int transpose_dim(const Geometry<2>& g) {
  const int db = g.ndim - 1;
  if (g.ndim < 2 || g.strides[1][db] != 1 || g.strides[0][db] == 1) return -1;
  for (int d = db - 1; d >= 0; --d)
    if (g.strides[0][d] == 1) return d;
  return -1;
}

// CADENZA_CUDA_INDEX64=1 sends every launch to the 64-bit path, so the tests
// can cover it without 2^31 elements.
bool force_index64() {
  static const bool on = [] {
    const char* e = std::getenv("CADENZA_CUDA_INDEX64");
    return e != nullptr && e[0] == '1';
  }();
  return on;
}

// Picks the path for f's operands (output last) and launches it.
template <class F>
void launch(const F& f, int ndim, const int64_t* shape, const Operand (&ops)[F::N],
            const char* op) {
  if (ndim > kMaxDims)
    throw std::invalid_argument(std::string(op) + " (cuda): " + std::to_string(ndim) +
                                " dims, at most " + std::to_string(kMaxDims));
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  std::array<const int64_t*, F::N> st;
  std::array<int64_t, F::N> ones;
  for (int k = 0; k < F::N; ++k) {
    st[k] = ops[k].strides;
    ones[k] = 1;
  }
  const StridedLayout<F::N> L = coalesce<F::N>(ndim, shape, st, ones);
  Geometry<F::N> g;
  g.ndim = static_cast<int>(L.shape.size());
  g.n = n;
  const bool fits32 = n < (int64_t{1} << 31) && !force_index64();
  for (int d = 0; d < g.ndim; ++d) {
    g.shape[d] = L.shape[d];
    for (int k = 0; k < F::N; ++k) g.strides[k][d] = L.strides[k][d];
    if (fits32) g.div[d] = kmath::FastDiv(static_cast<uint32_t>(L.shape[d]));
  }
  const cudaStream_t stream = current_stream();
  if (fits32 && g.ndim == 1 && g.strides[F::N - 1][0] == 1) {
    unsigned unit = 0;
    bool packed = true;
    for (int k = 0; k < F::N; ++k) {
      const int64_t s = g.strides[k][0];
      if (s == 1) {
        unit |= 1u << k;
        const int64_t align = F::bytes[k] * kPack > 16 ? 16 : F::bytes[k] * kPack;
        packed = packed && reinterpret_cast<uintptr_t>(ops[k].data) % align == 0;
      } else if (s != 0) {
        packed = false;
      }
    }
    if (packed) {
      packed_kernel<F><<<grid_for((n + kPack - 1) / kPack), kThreads, 0, stream>>>(f, n, unit);
      CADENZA_CUDA_CHECK(cudaGetLastError());
      return;
    }
  }
  if constexpr (IsCast<F>::value) {
    const int da = transpose_dim(g);
    if (da >= 0) {
      const int64_t A = g.shape[da], B = g.shape[g.ndim - 1];
      const int64_t tiles = n / (A * B) * ((A + 31) / 32) * ((B + 31) / 32);
      using S = std::remove_const_t<std::remove_pointer_t<decltype(f.src)>>;
      using D = std::remove_pointer_t<decltype(f.dst)>;
      const auto k = transpose_kernel<S, D>;  // (the emulator's rewrite: no deduction)
      const int grid = static_cast<int>(tiles < 65535 ? tiles : 65535);
      k<<<grid, kThreads, 0, stream>>>(f.src, f.dst, g, da);
      CADENZA_CUDA_CHECK(cudaGetLastError());
      return;
    }
  }
  if (fits32)
    strided_kernel<F><<<grid_for(n), kThreads, 0, stream>>>(f, g);
  else
    strided64_kernel<F><<<grid_for(n), kThreads, 0, stream>>>(f, g);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

// Calls f with a value of the C++ type of dt.
template <class F>
void dispatch(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::f32:
      return f(float{});
    case DType::f64:
      return f(double{});
    case DType::i32:
      return f(int32_t{});
    case DType::i64:
      return f(int64_t{});
  }
  throw std::invalid_argument(std::string(op) + " (cuda): unknown dtype");
}

}  // namespace

void unary_forward(UnaryOp op, DType dt, int ndim, const int64_t* shape, Operand x, Operand out,
                   double p0, double p1) {
  dispatch(dt, "unary_forward", [&](auto v) {
    using T = decltype(v);
    const UnaryF<T> f{op, p0, p1, static_cast<const T*>(x.data), static_cast<T*>(out.data)};
    launch(f, ndim, shape, {x, out}, "unary_forward");
  });
}

void binary_forward(BinaryOp op, DType dt, int ndim, const int64_t* shape, Operand a, Operand b,
                    Operand out) {
  dispatch(dt, "binary_forward", [&](auto v) {
    using T = decltype(v);
    const BinaryF<T> f{op, static_cast<const T*>(a.data), static_cast<const T*>(b.data),
                       static_cast<T*>(out.data)};
    launch(f, ndim, shape, {a, b, out}, "binary_forward");
  });
}

void where_forward(DType cdt, DType dt, int ndim, const int64_t* shape, Operand cond, Operand a,
                   Operand b, Operand out) {
  dispatch(cdt, "where_forward", [&](auto c) {
    using C = decltype(c);
    dispatch(dt, "where_forward", [&](auto v) {
      using T = decltype(v);
      const WhereF<C, T> f{static_cast<const C*>(cond.data), static_cast<const T*>(a.data),
                           static_cast<const T*>(b.data), static_cast<T*>(out.data)};
      launch(f, ndim, shape, {cond, a, b, out}, "where_forward");
    });
  });
}

void copy_cast(DType src_dt, DType dst_dt, int ndim, const int64_t* shape, Operand src,
               Operand dst) {
  dispatch(src_dt, "copy_cast", [&](auto s) {
    using S = decltype(s);
    dispatch(dst_dt, "copy_cast", [&](auto d) {
      using D = decltype(d);
      const CastF<S, D> f{static_cast<const S*>(src.data), static_cast<D*>(dst.data)};
      launch(f, ndim, shape, {src, dst}, "copy_cast");
    });
  });
}

void fill(DType dt, int ndim, const int64_t* shape, Operand dst, double value) {
  dispatch(dt, "fill", [&](auto v) {
    using T = decltype(v);
    const FillF<T> f{static_cast<T*>(dst.data), static_cast<T>(value)};
    launch(f, ndim, shape, {dst}, "fill");
  });
}

}  // namespace cadenza::kernels::cuda
