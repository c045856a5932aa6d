// The CPU backend: every entry of the kernel table, and host memory.
#include <chrono>
#include <cstring>

#include "engine/backend.h"

namespace cadenza::backend {

// Host memory (tensor.cpp: aligned blocks, large ones cached for reuse).
void* host_allocate(size_t bytes, int index);
void host_release(void* p, size_t bytes, int index);
void host_empty_cache();

namespace {

// An event of a host backend: the time it was recorded at (CPU kernels are
// done when they return, so an event completes at record).
struct HostEvent {
  std::chrono::steady_clock::time_point at;
};

// This thread's current stream of a host backend (null: the default).
template <Device::Kind Kind>
void*& current() {
  thread_local void* stream = nullptr;
  return stream;
}

// Streams and events of a host backend. A stream is a token, distinct from
// every other live stream, that nothing is ever queued on; `Kind` gives the
// CPU and the emulated CUDA device a current stream each.
template <Device::Kind Kind>
void fill_host_streams(Memory& m) {
  m.stream_create = [](int) -> void* { return new char; };
  m.stream_destroy = [](void* s, int) { delete static_cast<char*>(s); };
  m.current_stream = [](int) { return current<Kind>(); };
  m.set_current_stream = [](void* s, int) { current<Kind>() = s; };
  m.stream_synchronize = [](void*, int) {};
  m.stream_query = [](void*, int) { return true; };
  m.event_create = [](bool, int) -> void* { return new HostEvent(); };
  m.event_destroy = [](void* e, int) { delete static_cast<HostEvent*>(e); };
  m.event_record = [](void* e, void*, int) {
    static_cast<HostEvent*>(e)->at = std::chrono::steady_clock::now();
  };
  m.stream_wait_event = [](void*, void*, int) {};
  m.event_synchronize = [](void*, int) {};
  m.event_query = [](void*, int) { return true; };
  m.event_elapsed_ms = [](void* start, void* end, int) {
    const auto d = static_cast<HostEvent*>(end)->at - static_cast<HostEvent*>(start)->at;
    return std::chrono::duration<float, std::milli>(d).count();
  };
  m.record_stream = [](void*, void*, int) {};  // host blocks are free once released
}

}  // namespace

Backend make_cpu_backend() {
  Backend b;
  b.name = "cpu";
  b.kind = Device::cpu;
  Kernels& k = b.kernels;
  auto set = [&](KernelId id, DTypeMask m) { b.dtypes[static_cast<int>(id)] = m; };
  // Elementwise, copies, reductions and indexing take every dtype (the
  // kernels refuse a combination they cannot do, e.g. sqrt of an i64).
  k.unary_forward = kernels::unary_forward, set(KernelId::unary_forward, kAllTypes);
  k.binary_forward = kernels::binary_forward, set(KernelId::binary_forward, kAllTypes);
  k.where_forward = kernels::where_forward, set(KernelId::where_forward, kAllTypes);
  k.copy_cast = kernels::copy_cast, set(KernelId::copy_cast, kAllTypes);
  k.fill = kernels::fill, set(KernelId::fill, kAllTypes);
  k.reduce_forward = kernels::reduce_forward, set(KernelId::reduce_forward, kAllTypes);
  k.index_select_forward = kernels::index_select_forward, set(KernelId::index_select_forward, kAllTypes);
  k.index_add_forward = kernels::index_add_forward, set(KernelId::index_add_forward, kAllTypes);
  k.gather_forward = kernels::gather_forward, set(KernelId::gather_forward, kAllTypes);
  k.scatter_add_forward = kernels::scatter_add_forward, set(KernelId::scatter_add_forward, kAllTypes);
  // The rest is floating point.
  k.softmax_forward = kernels::softmax_forward, set(KernelId::softmax_forward, kFloatTypes);
  k.cross_entropy_forward = kernels::cross_entropy_forward, set(KernelId::cross_entropy_forward, kFloatTypes);
  k.cross_entropy_backward = kernels::cross_entropy_backward, set(KernelId::cross_entropy_backward, kFloatTypes);
  k.gemm = kernels::gemm, set(KernelId::gemm, kFloatTypes);
  k.conv1d_forward = kernels::conv1d_forward, set(KernelId::conv1d_forward, kFloatTypes);
  k.conv1d_backward_input = kernels::conv1d_backward_input, set(KernelId::conv1d_backward_input, kFloatTypes);
  k.conv1d_backward_weight = kernels::conv1d_backward_weight, set(KernelId::conv1d_backward_weight, kFloatTypes);
  k.conv1d_backward_bias = kernels::conv1d_backward_bias, set(KernelId::conv1d_backward_bias, kFloatTypes);
  k.conv_nd_forward = kernels::conv_nd_forward, set(KernelId::conv_nd_forward, kFloatTypes);
  k.conv_nd_backward_input = kernels::conv_nd_backward_input, set(KernelId::conv_nd_backward_input, kFloatTypes);
  k.conv_nd_backward_weight = kernels::conv_nd_backward_weight, set(KernelId::conv_nd_backward_weight, kFloatTypes);
  k.conv_nd_backward_bias = kernels::conv_nd_backward_bias, set(KernelId::conv_nd_backward_bias, kFloatTypes);
  k.batch_norm_stats = kernels::batch_norm_stats, set(KernelId::batch_norm_stats, kFloatTypes);
  k.batch_norm_forward = kernels::batch_norm_forward, set(KernelId::batch_norm_forward, kFloatTypes);
  k.batch_norm_backward = kernels::batch_norm_backward, set(KernelId::batch_norm_backward, kFloatTypes);
  k.gated_activation_forward = kernels::gated_activation_forward, set(KernelId::gated_activation_forward, kFloatTypes);
  k.gated_activation_backward = kernels::gated_activation_backward,
  set(KernelId::gated_activation_backward, kFloatTypes);
  k.adam_step = kernels::adam_step, set(KernelId::adam_step, kFloatTypes);
  k.sgd_step = kernels::sgd_step, set(KernelId::sgd_step, kFloatTypes);
  k.sum_squares = kernels::sum_squares, set(KernelId::sum_squares, kFloatTypes);
  k.scale_inplace = kernels::scale_inplace, set(KernelId::scale_inplace, kFloatTypes);
  k.philox_uniform = kernels::philox_uniform, set(KernelId::philox_uniform, kFloatTypes);
  k.philox_bernoulli = kernels::philox_bernoulli, set(KernelId::philox_bernoulli, kFloatTypes);
  k.philox_normal = kernels::philox_normal, set(KernelId::philox_normal, kFloatTypes);
  k.lstm_recurrent_forward = kernels::lstm_recurrent_forward, set(KernelId::lstm_recurrent_forward, kFloatTypes);
  k.lstm_recurrent_backward = kernels::lstm_recurrent_backward, set(KernelId::lstm_recurrent_backward, kFloatTypes);
  k.gru_recurrent_forward = kernels::gru_recurrent_forward, set(KernelId::gru_recurrent_forward, kFloatTypes);
  k.gru_recurrent_backward = kernels::gru_recurrent_backward, set(KernelId::gru_recurrent_backward, kFloatTypes);

  Memory& m = b.memory;
  m.allocate = host_allocate;
  m.release = host_release;
  m.to_host = [](void* dst, const void* src, size_t n, int) { std::memcpy(dst, src, n); };
  m.from_host = [](void* dst, const void* src, size_t n, int) { std::memcpy(dst, src, n); };
  m.within = [](void* dst, const void* src, size_t n, int) { std::memmove(dst, src, n); };
  m.zero = [](void* p, size_t n, int) { std::memset(p, 0, n); };
  m.device_count = [] { return 1; };
  m.empty_cache = host_empty_cache;
  m.synchronize = [](int) {};  // the CPU's kernels return when done
  fill_host_streams<Device::cpu>(m);
  return b;
}

// CADENZA_EMULATE_CUDA=1 (backend.cpp): the CPU's kernels and host memory
// under cuda:0's name.
Backend make_emulated_cuda_backend() {
  Backend b = make_cpu_backend();
  b.name = "cuda (emulated on the CPU)";
  b.kind = Device::cuda;
  b.memory.device_count = [] { return 1; };
  fill_host_streams<Device::cuda>(b.memory);
  return b;
}

}  // namespace cadenza::backend
