#include <algorithm>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/scratch.h"
#include "kernels/update_math.h"

namespace cadenza::kernels::cuda {

namespace {

// Tensor lists, as torch's multi_tensor_apply: a launch takes up to
// kListMax tensors, which it gets as a kernel parameter (with Adam's f64
// constants, 3.2 KB, under the 4 KB every device takes), and gives each
// tensor ceil(n / chunk) blocks; kmath::list_entry finds a block's tensor.
constexpr int kListMax = 48;
constexpr int64_t kUpdateChunk = 4 * kThreads;  // elements a block updates
constexpr int64_t kSumChunk = 32 * kThreads;    // elements a block of sum_squares adds

template <int D, class X>
struct TensorList {
  int count;
  int64_t first_block[kListMax + 1];
  int64_t n[kListMax];
  void* ptr[kListMax][D];
  X extra[kListMax];
};

// Op(ptr, extra, i) updates element i of the tensor whose buffers are ptr.
template <int D, class X, class Op>
__global__ void update_list_kernel(TensorList<D, X> list, Op op) {
  const int e = kmath::list_entry(list.first_block, list.count, blockIdx.x);
  int64_t begin, end;
  kmath::list_span(list.first_block, list.n, e, blockIdx.x, kUpdateChunk, &begin, &end);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) op(list.ptr[e], list.extra[e], i);
}

// Adam's per-tensor constants: those of its step count.
template <class T>
struct AdamStepConsts {
  T bc2_sqrt, step_size;
};

template <class T>
struct AdamOp {
  kmath::AdamConsts<T> c;  // the list's; bc2_sqrt and step_size come per tensor
  __device__ void operator()(void* const* ptr, const AdamStepConsts<T>& s, int64_t i) const {
    kmath::AdamConsts<T> ci = c;
    ci.bc2_sqrt = s.bc2_sqrt;
    ci.step_size = s.step_size;
    kmath::adam_update(static_cast<T*>(ptr[0])[i], static_cast<const T*>(ptr[1])[i], static_cast<T*>(ptr[2])[i],
                       static_cast<T*>(ptr[3])[i], ci);
  }
};

template <class T>
struct SgdOp {
  kmath::SgdConsts<T> c;  // the list's; `first` comes per tensor
  __device__ void operator()(void* const* ptr, const bool& first, int64_t i) const {
    kmath::SgdConsts<T> ci = c;
    ci.first = first;
    T& p = static_cast<T*>(ptr[0])[i];
    const T g = static_cast<const T*>(ptr[1])[i];
    if (ptr[2] != nullptr) {
      kmath::sgd_update(p, g, static_cast<T*>(ptr[2])[i], ci);
    } else {
      T none = 0;  // no momentum: sgd_update leaves the buffer alone
      kmath::sgd_update(p, g, none, ci);
    }
  }
};

template <class T>
struct ScaleOp {
  T s;
  __device__ void operator()(void* const* ptr, const char&, int64_t i) const { static_cast<T*>(ptr[0])[i] *= s; }
};

// Cuts the count tensors that fill(i, ptr, extra) describes (it sets tensor
// i's buffers and extra and returns its size; an empty one is left out)
// into lists of kListMax, `chunk` elements a block, and calls launch(list)
// for each, in order.
template <int D, class X, class Fill, class Launch>
void for_each_list(int64_t count, int64_t chunk, Fill fill, Launch launch) {
  TensorList<D, X> list;
  list.count = 0;
  list.first_block[0] = 0;
  auto flush = [&] {
    if (list.count == 0) return;
    launch(list);
    list.count = 0;
  };
  for (int64_t i = 0; i < count; ++i) {
    const int c = list.count;
    const int64_t n = fill(i, list.ptr[c], list.extra[c]);
    if (n <= 0) continue;
    list.n[c] = n;
    list.first_block[c + 1] = list.first_block[c] + (n + chunk - 1) / chunk;
    if (++list.count == kListMax) flush();
  }
  flush();
}

template <int D, class X, class Op, class Fill>
void update_lists(int64_t count, Fill fill, const Op& op) {
  const cudaStream_t stream = current_stream();
  for_each_list<D, X>(count, kUpdateChunk, fill, [&](const TensorList<D, X>& list) {
    const auto kernel = update_list_kernel<D, X, Op>;
    const unsigned blocks = static_cast<unsigned>(list.first_block[list.count]);
    kernel<<<blocks, kThreads, 0, stream>>>(list, op);
    CADENZA_CUDA_CHECK(cudaGetLastError());
  });
}

// Each block's partial sum of squares of its chunk, in double: a sum per
// thread, then warp shuffles and one shared-memory pass. partial[base + b]
// takes block b's.
template <class T>
__global__ void sumsq_list_kernel(TensorList<1, char> list, double* partial) {
  const int e = kmath::list_entry(list.first_block, list.count, blockIdx.x);
  int64_t begin, end;
  kmath::list_span(list.first_block, list.n, e, blockIdx.x, kSumChunk, &begin, &end);
  const T* x = static_cast<const T*>(list.ptr[e][0]);
  double s = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
  __shared__ double warp_sums[kThreads / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < kThreads / 32 ? warp_sums[lane] : 0.0;
    for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
    if (lane == 0) partial[blockIdx.x] = s;
  }
}

template <class T>
void adam_typed(int64_t count, const AdamTensor* t, const AdamParams& a) {
  AdamOp<T> op{kmath::adam_consts<T>(a, 1)};
  update_lists<4, AdamStepConsts<T>>(
      count,
      [&](int64_t i, void** ptr, AdamStepConsts<T>& x) {
        ptr[0] = t[i].p;
        ptr[1] = const_cast<void*>(t[i].g);
        ptr[2] = t[i].m;
        ptr[3] = t[i].v;
        const kmath::AdamConsts<T> c = kmath::adam_consts<T>(a, t[i].step);
        x = {c.bc2_sqrt, c.step_size};
        return t[i].n;
      },
      op);
}

template <class T>
void sgd_typed(int64_t count, const SgdTensor* t, const SgdParams& s) {
  SgdOp<T> op{kmath::sgd_consts<T>(s, false)};
  update_lists<3, bool>(
      count,
      [&](int64_t i, void** ptr, bool& first) {
        ptr[0] = t[i].p;
        ptr[1] = const_cast<void*>(t[i].g);
        ptr[2] = t[i].buf;
        first = t[i].first;
        return t[i].n;
      },
      op);
}

template <class T>
void scale_typed(int64_t count, const int64_t* n, void* const* x, double s) {
  update_lists<1, char>(
      count,
      [&](int64_t i, void** ptr, char&) {
        ptr[0] = x[i];
        return n[i];
      },
      ScaleOp<T>{static_cast<T>(s)});
}

}  // namespace

void adam_step(DType dt, int64_t count, const AdamTensor* t, const AdamParams& a) {
  if (dt == DType::f32)
    adam_typed<float>(count, t, a);
  else
    adam_typed<double>(count, t, a);
}

void sgd_step(DType dt, int64_t count, const SgdTensor* t, const SgdParams& s) {
  if (dt == DType::f32)
    sgd_typed<float>(count, t, s);
  else
    sgd_typed<double>(count, t, s);
}

// The block partials of every tensor go into one buffer, which comes back in
// one copy on the current stream (not a cudaMalloc/cudaFree pair, whose free
// waits for every stream of the device) and one synchronisation; each
// tensor's sum adds its partials in block order (the same sum every run).
void sum_squares(DType dt, int64_t count, const int64_t* n, const void* const* x, double* out) {
  std::vector<int64_t> at(static_cast<size_t>(count) + 1, 0);  // tensor i's partials: at[i] .. at[i + 1] - 1
  for (int64_t i = 0; i < count; ++i) at[i + 1] = at[i] + (n[i] > 0 ? (n[i] + kSumChunk - 1) / kSumChunk : 0);
  const int64_t total = at[count];
  if (total == 0) {
    std::fill(out, out + count, 0.0);
    return;
  }
  Scratch partial(sizeof(double) * static_cast<size_t>(total), "sum_squares", "partial sums");
  const cudaStream_t stream = current_stream();
  int64_t base = 0;  // the launch's first partial
  for_each_list<1, char>(
      count, kSumChunk,
      [&](int64_t i, void** ptr, char&) {
        ptr[0] = const_cast<void*>(x[i]);
        return n[i];
      },
      [&](const TensorList<1, char>& list) {
        const auto kernel = dt == DType::f32 ? sumsq_list_kernel<float> : sumsq_list_kernel<double>;
        const unsigned blocks = static_cast<unsigned>(list.first_block[list.count]);
        kernel<<<blocks, kThreads, 0, stream>>>(list, partial.as<double>() + base);
        CADENZA_CUDA_CHECK(cudaGetLastError());
        base += blocks;
      });
  std::vector<double> host(static_cast<size_t>(total));
  CADENZA_CUDA_CHECK(cudaMemcpyAsync(host.data(), partial.as<double>(), sizeof(double) * total,
                                     cudaMemcpyDeviceToHost, stream));
  CADENZA_CUDA_CHECK(cudaStreamSynchronize(stream));
  for (int64_t i = 0; i < count; ++i) {
    double s = 0;
    for (int64_t k = at[i]; k < at[i + 1]; ++k) s += host[k];
    out[i] = s;
  }
}

void scale_inplace(DType dt, int64_t count, const int64_t* n, void* const* x, double s) {
  if (dt == DType::f32)
    scale_typed<float>(count, n, x, s);
  else
    scale_typed<double>(count, n, x, s);
}

}  // namespace cadenza::kernels::cuda
