#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/index.h"
#include "kernels/cuda/launch.h"
#include "kernels/strided_layout.h"

namespace cadenza::kernels::cuda {

namespace {

// atomicAdd has float, double, int and unsigned long long forms; an int64
// adds through the last, whose wrap-around is two's complement's.
__device__ void atomic_add(float* p, float v) {
  atomicAdd(p, v);
}
__device__ void atomic_add(double* p, double v) {
  atomicAdd(p, v);
}
__device__ void atomic_add(int32_t* p, int32_t v) {
  atomicAdd(p, v);
}
__device__ void atomic_add(int64_t* p, int64_t v) {
  static_assert(sizeof(int64_t) == sizeof(unsigned long long), "i64 is 64 bits");
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

// The [outer, L, inner] side's flat index e = (o * L + l) * inner + i, and
// the rows of the [outer, N, inner] side it maps to.
struct Rows {
  kmath::IndexDiv inner, L;
  int64_t N;
  Rows(int64_t outer, int64_t N_, int64_t inner_, int64_t L_)
      : inner(inner_, outer * L_ * inner_), L(L_, outer * L_), N(N_) {}
  // l of element e, and the offset of (o, row, i) on the N side once row is
  // known (row_offset).
  __device__ int64_t l_of(int64_t e) const { return L.mod(inner.div(e)); }
  __device__ int64_t row_offset(int64_t e, int64_t row) const {
    const int64_t ol = inner.div(e), i = e - ol * inner.d;
    return (L.div(ol) * N + row) * inner.d + i;
  }
};

template <class T>
__global__ void index_select_kernel(Rows m, const T* x, const int64_t* idx, int64_t n, T* out) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n;
       e += int64_t{gridDim.x} * blockDim.x)
    out[e] = x[m.row_offset(e, idx[m.l_of(e)])];
}

template <class T>
__global__ void index_add_kernel(Rows m, T* out, const int64_t* idx, int64_t n, const T* src) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n;
       e += int64_t{gridDim.x} * blockDim.x)
    atomic_add(out + m.row_offset(e, idx[m.l_of(e)]), src[e]);
}

template <class T>
__global__ void gather_kernel(Rows m, const T* x, const int64_t* idx, int64_t n, T* out) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n;
       e += int64_t{gridDim.x} * blockDim.x)
    out[e] = x[m.row_offset(e, idx[e])];
}

template <class T>
__global__ void scatter_add_kernel(Rows m, T* out, const int64_t* idx, int64_t n, const T* src) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n;
       e += int64_t{gridDim.x} * blockDim.x)
    atomic_add(out + m.row_offset(e, idx[e]), src[e]);
}

// Reads: x is [outer, N, inner], writes [outer, L, inner] (select, gather).
template <class T>
void read_rows(bool per_element, int64_t outer, int64_t N, int64_t inner, const void* x,
               const int64_t* idx, int64_t L, void* out) {
  const int64_t n = outer * L * inner;
  const Rows m(outer, N, inner, L);
  if (per_element)
    gather_kernel<T><<<grid_for(n), kThreads, 0, current_stream()>>>(m, static_cast<const T*>(x),
                                                                     idx, n, static_cast<T*>(out));
  else
    index_select_kernel<T><<<grid_for(n), kThreads, 0, current_stream()>>>(
        m, static_cast<const T*>(x), idx, n, static_cast<T*>(out));
}

// Adds: src is [outer, L, inner], out [outer, N, inner] (index_add, scatter_add).
template <class T>
void add_rows(bool per_element, int64_t outer, int64_t N, int64_t inner, void* out,
              const int64_t* idx, int64_t L, const void* src) {
  const int64_t n = outer * L * inner;
  const Rows m(outer, N, inner, L);
  if (per_element)
    scatter_add_kernel<T><<<grid_for(n), kThreads, 0, current_stream()>>>(
        m, static_cast<T*>(out), idx, n, static_cast<const T*>(src));
  else
    index_add_kernel<T><<<grid_for(n), kThreads, 0, current_stream()>>>(
        m, static_cast<T*>(out), idx, n, static_cast<const T*>(src));
}

// The typed launches for dt (int32_t is CUDA's int).
void read_rows(DType dt, bool per_element, int64_t outer, int64_t N, int64_t inner, const void* x,
               const int64_t* idx, int64_t L, void* out) {
  switch (dt) {
    case DType::f32:
      return read_rows<float>(per_element, outer, N, inner, x, idx, L, out);
    case DType::f64:
      return read_rows<double>(per_element, outer, N, inner, x, idx, L, out);
    case DType::i32:
      return read_rows<int32_t>(per_element, outer, N, inner, x, idx, L, out);
    case DType::i64:
      return read_rows<int64_t>(per_element, outer, N, inner, x, idx, L, out);
  }
}

void add_rows(DType dt, bool per_element, int64_t outer, int64_t N, int64_t inner, void* out,
              const int64_t* idx, int64_t L, const void* src) {
  switch (dt) {
    case DType::f32:
      return add_rows<float>(per_element, outer, N, inner, out, idx, L, src);
    case DType::f64:
      return add_rows<double>(per_element, outer, N, inner, out, idx, L, src);
    case DType::i32:
      return add_rows<int32_t>(per_element, outer, N, inner, out, idx, L, src);
    case DType::i64:
      return add_rows<int64_t>(per_element, outer, N, inner, out, idx, L, src);
  }
}

}  // namespace

void index_select_forward(DType dt, int64_t outer, int64_t N, int64_t inner, const void* x,
                          const int64_t* idx, int64_t L, void* out) {
  if (outer * L * inner == 0) return;
  read_rows(dt, false, outer, N, inner, x, idx, L, out);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void index_add_forward(DType dt, int64_t outer, int64_t N, int64_t inner, void* out,
                       const int64_t* idx, int64_t L, const void* src) {
  if (outer * L * inner == 0) return;
  add_rows(dt, false, outer, N, inner, out, idx, L, src);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void gather_forward(DType dt, int64_t outer, int64_t N, int64_t inner, const void* x,
                    const int64_t* idx, int64_t L, void* out) {
  if (outer * L * inner == 0) return;
  read_rows(dt, true, outer, N, inner, x, idx, L, out);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

void scatter_add_forward(DType dt, int64_t outer, int64_t N, int64_t inner, void* out,
                         const int64_t* idx, int64_t L, const void* src) {
  if (outer * L * inner == 0) return;
  add_rows(dt, true, outer, N, inner, out, idx, L, src);
  CADENZA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cadenza::kernels::cuda
