#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/conv_nd_math.h"
#include "kernels/cuda/conv_common.cuh"
#include "kernels/cuda/conv_nd.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/scratch.h"
#include "kernels/strided_layout.h"

namespace cadenza::kernels::cuda {

namespace {

// At most this many bytes of columns at a time (at least one sample's).
constexpr int64_t kColumnBytes = int64_t{64} << 20;

struct Sizes {
  int64_t V, P, kvol, rows;  // input volume, output volume, kernel volume, Cin * kvol
  explicit Sizes(const ConvNdShape& s)
      : V(s.in_volume()),
        P(s.out_volume()),
        kvol(s.kernel_volume()),
        rows(s.Cin * s.kernel_volume()) {}
};

// The coordinates of flat position e in a volume [*, n1, n2], by the
// IndexDivs of n2 and n1.
__device__ __forceinline__ void coords_of(int64_t e, const kmath::IndexDiv& n2,
                                          const kmath::IndexDiv& n1, int64_t (&c)[3]) {
  const int64_t e01 = n2.div(e);
  c[2] = e - e01 * n2.d;
  c[0] = n1.div(e01);
  c[1] = e01 - c[0] * n1.d;
}

// col[b][c * kvol + q][p] = x[b][c][the input position tap q reads for p],
// or 0 in the padding: a thread per (b, c, p), which writes its kvol taps.
template <class T>
__global__ void vol2col_kernel(ConvNdShape s, int64_t n, kmath::IndexDiv P, kmath::IndexDiv o2,
                               kmath::IndexDiv o1, const T* x, T* col) {
  const int64_t V = s.in[0] * s.in[1] * s.in[2], kvol = s.k[0] * s.k[1] * s.k[2];
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n;
       e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t bc = P.div(e), p = e - bc * P.d;  // bc = b * Cin + c
    int64_t pd[3];
    coords_of(p, o2, o1, pd);
    kmath::conv_nd_column(s, pd, x + bc * V, col + bc * kvol * P.d + p, P.d);
  }
}

// dx[b][c][i] = sum over taps q of col[b][c * kvol + q][the output position
// whose tap q reads i]: each input element gathers what read it, in tap order.
template <class T>
__global__ void col2vol_kernel(ConvNdShape s, int64_t n, kmath::IndexDiv V, kmath::IndexDiv i2,
                               kmath::IndexDiv i1, const T* col, T* dx) {
  const int64_t P = s.out[0] * s.out[1] * s.out[2], kvol = s.k[0] * s.k[1] * s.k[2];
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n;
       e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t bc = V.div(e);
    int64_t id[3];
    coords_of(e - bc * V.d, i2, i1, id);
    dx[e] = kmath::conv_nd_gather(s, id, col + bc * kvol * P, P);
  }
}

// Samples per chunk: as many as fit kColumnBytes of columns, at least one.
int64_t chunk_of(const ConvNdShape& s, const Sizes& z, size_t elem) {
  const int64_t per = std::max<int64_t>(1, z.rows * z.P * static_cast<int64_t>(elem));
  return std::max<int64_t>(1, std::min<int64_t>(s.B, kColumnBytes / per));
}

// The GEMM sizes as cuBLAS's ints, checked.
struct Dims {
  int P, rows, cout;
  Dims(const ConvNdShape& s, const Sizes& z, const char* op)
      : P(cublas_int(z.P, op, "output volume")),
        rows(cublas_int(z.rows, op, "Cin x kernel volume")),
        cout(cublas_int(s.Cout, op, "Cout")) {}
};

// For each chunk of samples [b0, b0 + nb): x's column matrices, nb of them
// [rows, P] apart (vol2col into scratch, or x itself for a pointwise kernel).
template <class T, class F>
void for_each_column_chunk(const ConvNdShape& s, const T* x, const char* op, F&& f) {
  const Sizes z(s);
  const bool pointwise = kmath::conv_nd_is_pointwise(s);
  const int64_t chunk = chunk_of(s, z, sizeof(T));
  Scratch cols(pointwise ? 0 : static_cast<size_t>(chunk * z.rows * z.P) * sizeof(T), op,
               "columns");
  for (int64_t b0 = 0; b0 < s.B; b0 += chunk) {
    const int64_t nb = std::min(chunk, s.B - b0);
    const T* c = x + b0 * s.Cin * z.V;
    if (!pointwise) {
      const int64_t n = nb * s.Cin * z.P;
      vol2col_kernel<T><<<grid_for(n), kThreads, 0, current_stream()>>>(
          s, n, kmath::IndexDiv(z.P, n), kmath::IndexDiv(s.out[2], z.P),
          kmath::IndexDiv(s.out[1], z.P), c, cols.as<T>());
      CADENZA_CUDA_CHECK(cudaGetLastError());
      c = cols.as<T>();
    }
    f(b0, nb, c);
  }
}

// Row-major per sample Y_b = W C_b ([Cout, P] = [Cout, rows] [rows, P]);
// column-major Y^T = C^T W^T: C = Y_b (P x Cout, ld P), A = C_b (P x rows,
// ld P), B = W (rows x Cout, ld rows, shared).
template <class T>
void forward(const ConvNdShape& s, const T* x, const T* w, const T* bias, T* y) {
  const char* op = "conv_nd_forward";
  const Sizes z(s);
  const int64_t total = s.B * s.Cout * z.P;
  if (total == 0) return;
  fill_bias(s.B, s.Cout, z.P, bias, y);
  if (z.rows == 0) return;
  cublasHandle_t h = cublas_handle();
  const Dims d(s, z, op);
  for_each_column_chunk(s, x, op, [&](int64_t b0, int64_t nb, const T* c) {
    gemm_batched(h, CUBLAS_OP_N, CUBLAS_OP_N, d.P, d.cout, d.rows, c, d.P, z.rows * z.P, w, d.rows,
                 0, T(1), y + b0 * s.Cout * z.P, d.P, s.Cout * z.P, cublas_int(nb, op, "chunk"));
  });
}

// Row-major per sample C_b = W^T G_b ([rows, P] = [rows, Cout] [Cout, P]);
// column-major C^T = G^T W: C = C_b (P x rows, ld P), A = G_b (P x Cout,
// ld P), B = W stored as rows x Cout (ld rows), op T. Then col2vol, or
// straight into dx for a pointwise kernel.
template <class T>
void backward_input(const ConvNdShape& s, const T* g, const T* w, T* dx) {
  const char* op = "conv_nd_backward_input";
  const Sizes z(s);
  const int64_t total = s.B * s.Cin * z.V;
  if (total == 0) return;
  if (s.Cout == 0 || z.P == 0) {
    CADENZA_CUDA_CHECK(
        cudaMemsetAsync(dx, 0, static_cast<size_t>(total) * sizeof(T), current_stream()));
    return;
  }
  const bool pointwise = kmath::conv_nd_is_pointwise(s);
  const int64_t chunk = chunk_of(s, z, sizeof(T));
  Scratch cols(pointwise ? 0 : static_cast<size_t>(chunk * z.rows * z.P) * sizeof(T), op,
               "columns");
  cublasHandle_t h = cublas_handle();
  const Dims d(s, z, op);
  for (int64_t b0 = 0; b0 < s.B; b0 += chunk) {
    const int64_t nb = std::min(chunk, s.B - b0);
    T* target = pointwise ? dx + b0 * s.Cin * z.V : cols.as<T>();
    gemm_batched(h, CUBLAS_OP_N, CUBLAS_OP_T, d.P, d.rows, d.cout, g + b0 * s.Cout * z.P, d.P,
                 s.Cout * z.P, w, d.rows, 0, T(0), target, d.P, z.rows * z.P,
                 cublas_int(nb, op, "chunk"));
    if (!pointwise) {
      const int64_t n = nb * s.Cin * z.V;
      col2vol_kernel<T><<<grid_for(n), kThreads, 0, current_stream()>>>(
          s, n, kmath::IndexDiv(z.V, n), kmath::IndexDiv(s.in[2], z.V),
          kmath::IndexDiv(s.in[1], z.V), cols.as<T>(), dx + b0 * s.Cin * z.V);
      CADENZA_CUDA_CHECK(cudaGetLastError());
    }
  }
}

// Row-major dW = sum_b G_b C_b^T ([Cout, rows] = [Cout, P] [P, rows]);
// column-major P_b^T = C_b G_b^T: C = P_b (rows x Cout, ld rows), A = C_b
// stored as P x rows (ld P), op T; B = G_b (P x Cout, ld P). The products
// of up to wgrad_rows samples at a time in one batched GEMM, then added
// into dw in sample order (conv_common.cuh).
template <class T>
void backward_weight(const ConvNdShape& s, const T* g, const T* x, T* dw) {
  const char* op = "conv_nd_backward_weight";
  const Sizes z(s);
  const int64_t n = s.Cout * z.rows;
  if (n == 0) return;
  if (s.B == 0 || z.P == 0) {
    CADENZA_CUDA_CHECK(
        cudaMemsetAsync(dw, 0, static_cast<size_t>(n) * sizeof(T), current_stream()));
    return;
  }
  const int64_t rows = wgrad_rows(s.B, n * static_cast<int64_t>(sizeof(T)));
  Scratch products(static_cast<size_t>(rows * n) * sizeof(T), op, "per-sample weight gradients");
  T* part = products.as<T>();
  cublasHandle_t h = cublas_handle();
  const cudaStream_t stream = current_stream();
  const Dims d(s, z, op);
  for_each_column_chunk(s, x, op, [&](int64_t b0, int64_t nb, const T* c) {
    for (int64_t b1 = 0; b1 < nb; b1 += rows) {
      const int64_t r = std::min(rows, nb - b1);
      gemm_batched(h, CUBLAS_OP_T, CUBLAS_OP_N, d.rows, d.cout, d.P, c + b1 * z.rows * z.P, d.P,
                   z.rows * z.P, g + (b0 + b1) * s.Cout * z.P, d.P, s.Cout * z.P, T(0), part,
                   d.rows, n, cublas_int(r, op, "chunk"));
      sum_products_kernel<T>
          <<<grid_for(n), kThreads, 0, stream>>>(n, 1, 0, r, b0 + b1 > 0, part, dw);
      CADENZA_CUDA_CHECK(cudaGetLastError());
    }
  });
}

template <class T>
void backward_bias(const ConvNdShape& s, const T* g, T* db) {
  bias_grad(s.B, s.Cout, s.out_volume(), g, db);
}

template <class F>
void by_dtype(DType dt, const char* op, F&& f) {
  if (dt == DType::f32)
    f(float{});
  else if (dt == DType::f64)
    f(double{});
  else
    throw std::invalid_argument(std::string(op) + " (cuda): f32 or f64 only");
}

}  // namespace

void conv_nd_forward(DType dt, const ConvNdShape& s, const void* x, const void* w, const void* bias,
                     void* y) {
  by_dtype(dt, "conv_nd_forward", [&](auto t) {
    using T = decltype(t);
    forward(s, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
            static_cast<T*>(y));
  });
}

void conv_nd_backward_input(DType dt, const ConvNdShape& s, const void* g, const void* w,
                            void* dx) {
  by_dtype(dt, "conv_nd_backward_input", [&](auto t) {
    using T = decltype(t);
    backward_input(s, static_cast<const T*>(g), static_cast<const T*>(w), static_cast<T*>(dx));
  });
}

void conv_nd_backward_weight(DType dt, const ConvNdShape& s, const void* g, const void* x,
                             void* dw) {
  by_dtype(dt, "conv_nd_backward_weight", [&](auto t) {
    using T = decltype(t);
    backward_weight(s, static_cast<const T*>(g), static_cast<const T*>(x), static_cast<T*>(dw));
  });
}

void conv_nd_backward_bias(DType dt, const ConvNdShape& s, const void* g, void* db) {
  by_dtype(dt, "conv_nd_backward_bias", [&](auto t) {
    using T = decltype(t);
    backward_bias(s, static_cast<const T*>(g), static_cast<T*>(db));
  });
}

}  // namespace cadenza::kernels::cuda
