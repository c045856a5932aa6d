#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/launch.h"
#include "kernels/elementwise_math.h"

namespace cadenza::kernels::cuda {

namespace {

constexpr int kMaxDims = 8;

// A shape and up to four operands' strides (in elements), by value.
template <int N>
struct Geometry {
  int ndim = 0;
  int64_t n = 1;
  int64_t shape[kMaxDims];
  int64_t strides[N][kMaxDims];
};

template <int N>
Geometry<N> geometry(int ndim, const int64_t* shape, const Operand (&ops)[N], const char* op) {
  if (ndim > kMaxDims)
    throw std::invalid_argument(std::string(op) + " (cuda): " + std::to_string(ndim) + " dims, at most " +
                                std::to_string(kMaxDims));
  Geometry<N> g;
  g.ndim = ndim;
  for (int d = 0; d < ndim; ++d) {
    g.shape[d] = shape[d];
    g.n *= shape[d];
    for (int k = 0; k < N; ++k) g.strides[k][d] = ops[k].strides[d];
  }
  return g;
}

// Element offsets of linear index i (row-major over the shape) in each operand.
template <int N>
__device__ void offsets(const Geometry<N>& g, int64_t i, int64_t (&off)[N]) {
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = g.ndim - 1; d >= 0; --d) {
    const int64_t c = i % g.shape[d];
    i /= g.shape[d];
    for (int k = 0; k < N; ++k) off[k] += c * g.strides[k][d];
  }
}

template <class T>
__global__ void unary_kernel(Geometry<2> g, UnaryOp op, const T* x, T* out, double p0, double p1) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < g.n; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t off[2];
    offsets(g, i, off);
    out[off[1]] = kmath::unary_value<T>(op, x[off[0]], p0, p1);
  }
}

template <class T>
__global__ void binary_kernel(Geometry<3> g, BinaryOp op, const T* a, const T* b, T* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < g.n; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t off[3];
    offsets(g, i, off);
    out[off[2]] = kmath::binary_value<T>(op, a[off[0]], b[off[1]]);
  }
}

template <class C, class T>
__global__ void where_kernel(Geometry<4> g, const C* cond, const T* a, const T* b, T* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < g.n; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t off[4];
    offsets(g, i, off);
    out[off[3]] = cond[off[0]] != C(0) ? a[off[1]] : b[off[2]];
  }
}

template <class S, class D>
__global__ void cast_kernel(Geometry<2> g, const S* src, D* dst) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < g.n; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t off[2];
    offsets(g, i, off);
    dst[off[1]] = static_cast<D>(src[off[0]]);
  }
}

template <class T>
__global__ void fill_kernel(Geometry<1> g, T* dst, T value) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < g.n; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t off[1];
    offsets(g, i, off);
    dst[off[0]] = value;
  }
}

// Calls f with a value of the C++ type of dt.
template <class F>
void dispatch(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
  }
  throw std::invalid_argument(std::string(op) + " (cuda): unknown dtype");
}

}  // namespace

void unary_forward(UnaryOp op, DType dt, int ndim, const int64_t* shape, Operand x, Operand out, double p0,
                   double p1) {
  auto g = geometry<2>(ndim, shape, {x, out}, "unary_forward");
  if (g.n == 0) return;
  dispatch(dt, "unary_forward", [&](auto v) {
    using T = decltype(v);
    unary_kernel<T><<<grid_for(g.n), kThreads, 0, current_stream()>>>(
        g, op, static_cast<const T*>(x.data), static_cast<T*>(out.data), p0, p1);
  });
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void binary_forward(BinaryOp op, DType dt, int ndim, const int64_t* shape, Operand a, Operand b, Operand out) {
  auto g = geometry<3>(ndim, shape, {a, b, out}, "binary_forward");
  if (g.n == 0) return;
  dispatch(dt, "binary_forward", [&](auto v) {
    using T = decltype(v);
    binary_kernel<T><<<grid_for(g.n), kThreads, 0, current_stream()>>>(
        g, op, static_cast<const T*>(a.data), static_cast<const T*>(b.data),
        static_cast<T*>(out.data));
  });
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void where_forward(DType cdt, DType dt, int ndim, const int64_t* shape, Operand cond, Operand a, Operand b,
                   Operand out) {
  auto g = geometry<4>(ndim, shape, {cond, a, b, out}, "where_forward");
  if (g.n == 0) return;
  dispatch(cdt, "where_forward", [&](auto c) {
    using C = decltype(c);
    dispatch(dt, "where_forward", [&](auto v) {
      using T = decltype(v);
      where_kernel<C, T><<<grid_for(g.n), kThreads, 0, current_stream()>>>(
          g, static_cast<const C*>(cond.data), static_cast<const T*>(a.data),
          static_cast<const T*>(b.data), static_cast<T*>(out.data));
    });
  });
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void copy_cast(DType src_dt, DType dst_dt, int ndim, const int64_t* shape, Operand src, Operand dst) {
  auto g = geometry<2>(ndim, shape, {src, dst}, "copy_cast");
  if (g.n == 0) return;
  dispatch(src_dt, "copy_cast", [&](auto s) {
    using S = decltype(s);
    dispatch(dst_dt, "copy_cast", [&](auto d) {
      using D = decltype(d);
      cast_kernel<S, D><<<grid_for(g.n), kThreads, 0, current_stream()>>>(
          g, static_cast<const S*>(src.data), static_cast<D*>(dst.data));
    });
  });
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void fill(DType dt, int ndim, const int64_t* shape, Operand dst, double value) {
  auto g = geometry<1>(ndim, shape, {dst}, "fill");
  if (g.n == 0) return;
  dispatch(dt, "fill", [&](auto v) {
    using T = decltype(v);
    fill_kernel<T><<<grid_for(g.n), kThreads, 0, current_stream()>>>(g, static_cast<T*>(dst.data),
                                                                     static_cast<T>(value));
  });
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cadenza::kernels::cuda
