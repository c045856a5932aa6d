// The CUDA backend: device memory and copies (kernels/cuda/runtime.cu) and
// the kernel entries that have CUDA kernels: so far the elementwise family,
// reductions, softmax and the fused cross-entropy, GEMM (cuBLAS), indexing (index_select, index_add,
// gather, scatter_add; the adds atomic), conv1d with its three gradients
// (cuBLAS, a GEMM per tap), the gated activation, batch_norm (statistics,
// forward, backward; a block per channel), the LSTM and GRU recurrences
// (a cuBLAS GEMM and a cell kernel per step, or at batch <= 8 one
// persistent launch for every step), conv_nd with its three
// gradients (vol2col and a cuBLAS GEMM per chunk of samples), the optimizer
// updates and norms (a launch per 48 tensors), and the Philox draws
// (kernels/cuda/). Every entry is
// filled; a dtype an entry does not list (integer GEMMs, say) fails with an
// error naming the op, the device and the dtype. Kernels, copies and
// cuBLAS calls run on this thread's current stream of the device; the
// stream and event entries are the CUDA runtime's (kernels/cuda/runtime.h).
#include "engine/backend.h"

#if defined(CADENZA_BACKEND_HAS_CUDA)
#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/conv1d.h"
#include "kernels/cuda/conv_nd.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gated_activation.h"
#include "kernels/cuda/index.h"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/random.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/rnn.h"
#include "kernels/cuda/softmax.h"
#include "kernels/cuda/runtime.h"

namespace cadenza::backend {

Backend make_cuda_backend() {
  Backend b;
  b.name = "cuda";
  b.kind = Device::cuda;
  Kernels& k = b.kernels;
  auto set = [&](KernelId id, DTypeMask mask) { b.dtypes[static_cast<int>(id)] = mask; };
  k.unary_forward = kernels::cuda::unary_forward, set(KernelId::unary_forward, kAllTypes);
  k.binary_forward = kernels::cuda::binary_forward, set(KernelId::binary_forward, kAllTypes);
  k.where_forward = kernels::cuda::where_forward, set(KernelId::where_forward, kAllTypes);
  k.copy_cast = kernels::cuda::copy_cast, set(KernelId::copy_cast, kAllTypes);
  k.fill = kernels::cuda::fill, set(KernelId::fill, kAllTypes);
  k.reduce_forward = kernels::cuda::reduce_forward, set(KernelId::reduce_forward, kAllTypes);
  k.softmax_forward = kernels::cuda::softmax_forward, set(KernelId::softmax_forward, kFloatTypes);
  k.cross_entropy_forward = kernels::cuda::cross_entropy_forward, set(KernelId::cross_entropy_forward, kFloatTypes);
  k.cross_entropy_backward = kernels::cuda::cross_entropy_backward, set(KernelId::cross_entropy_backward, kFloatTypes);
  k.gemm = kernels::cuda::gemm, set(KernelId::gemm, kFloatTypes);
  // Indexing takes every dtype, as on the CPU: the adds are atomicAdd on
  // float, double, int and (for i64) unsigned 64-bit words.
  k.index_select_forward = kernels::cuda::index_select_forward, set(KernelId::index_select_forward, kAllTypes);
  k.index_add_forward = kernels::cuda::index_add_forward, set(KernelId::index_add_forward, kAllTypes);
  k.gather_forward = kernels::cuda::gather_forward, set(KernelId::gather_forward, kAllTypes);
  k.scatter_add_forward = kernels::cuda::scatter_add_forward, set(KernelId::scatter_add_forward, kAllTypes);
  k.conv1d_forward = kernels::cuda::conv1d_forward, set(KernelId::conv1d_forward, kFloatTypes);
  k.conv1d_backward_input = kernels::cuda::conv1d_backward_input, set(KernelId::conv1d_backward_input, kFloatTypes);
  k.conv1d_backward_weight = kernels::cuda::conv1d_backward_weight,
  set(KernelId::conv1d_backward_weight, kFloatTypes);
  k.conv1d_backward_bias = kernels::cuda::conv1d_backward_bias, set(KernelId::conv1d_backward_bias, kFloatTypes);
  k.conv_nd_forward = kernels::cuda::conv_nd_forward, set(KernelId::conv_nd_forward, kFloatTypes);
  k.conv_nd_backward_input = kernels::cuda::conv_nd_backward_input,
  set(KernelId::conv_nd_backward_input, kFloatTypes);
  k.conv_nd_backward_weight = kernels::cuda::conv_nd_backward_weight,
  set(KernelId::conv_nd_backward_weight, kFloatTypes);
  k.conv_nd_backward_bias = kernels::cuda::conv_nd_backward_bias, set(KernelId::conv_nd_backward_bias, kFloatTypes);
  k.gated_activation_forward = kernels::cuda::gated_activation_forward,
  set(KernelId::gated_activation_forward, kFloatTypes);
  k.gated_activation_backward = kernels::cuda::gated_activation_backward,
  set(KernelId::gated_activation_backward, kFloatTypes);
  k.batch_norm_stats = kernels::cuda::batch_norm_stats, set(KernelId::batch_norm_stats, kFloatTypes);
  k.batch_norm_forward = kernels::cuda::batch_norm_forward, set(KernelId::batch_norm_forward, kFloatTypes);
  k.batch_norm_backward = kernels::cuda::batch_norm_backward, set(KernelId::batch_norm_backward, kFloatTypes);
  k.lstm_recurrent_forward = kernels::cuda::lstm_recurrent_forward,
  set(KernelId::lstm_recurrent_forward, kFloatTypes);
  k.lstm_recurrent_backward = kernels::cuda::lstm_recurrent_backward,
  set(KernelId::lstm_recurrent_backward, kFloatTypes);
  k.gru_recurrent_forward = kernels::cuda::gru_recurrent_forward, set(KernelId::gru_recurrent_forward, kFloatTypes);
  k.gru_recurrent_backward = kernels::cuda::gru_recurrent_backward,
  set(KernelId::gru_recurrent_backward, kFloatTypes);
  k.adam_step = kernels::cuda::adam_step, set(KernelId::adam_step, kFloatTypes);
  k.sgd_step = kernels::cuda::sgd_step, set(KernelId::sgd_step, kFloatTypes);
  k.sum_squares = kernels::cuda::sum_squares, set(KernelId::sum_squares, kFloatTypes);
  k.scale_inplace = kernels::cuda::scale_inplace, set(KernelId::scale_inplace, kFloatTypes);
  k.philox_uniform = kernels::cuda::philox_uniform, set(KernelId::philox_uniform, kFloatTypes);
  k.philox_bernoulli = kernels::cuda::philox_bernoulli, set(KernelId::philox_bernoulli, kFloatTypes);
  k.philox_normal = kernels::cuda::philox_normal, set(KernelId::philox_normal, kFloatTypes);

  Memory& m = b.memory;
  m.allocate = cuda::device_allocate;
  m.release = cuda::device_release;
  m.to_host = cuda::copy_to_host;
  m.from_host = cuda::copy_from_host;
  m.within = cuda::copy_within;
  m.zero = cuda::zero;
  m.device_count = cuda::device_count;
  m.empty_cache = cuda::empty_cache;
  m.synchronize = cuda::synchronize;
  m.stream_create = cuda::stream_create;
  m.stream_destroy = cuda::stream_destroy;
  m.current_stream = cuda::current_stream;
  m.set_current_stream = cuda::set_current_stream;
  m.stream_synchronize = cuda::stream_synchronize;
  m.stream_query = cuda::stream_query;
  m.event_create = cuda::event_create;
  m.event_destroy = cuda::event_destroy;
  m.event_record = cuda::event_record;
  m.stream_wait_event = cuda::stream_wait_event;
  m.event_synchronize = cuda::event_synchronize;
  m.event_query = cuda::event_query;
  m.event_elapsed_ms = cuda::event_elapsed_ms;
  m.record_stream = cuda::record_stream;
  return b;
}

}  // namespace cadenza::backend
#endif
