#pragma once
// The seam between the op front ends and the kernels (not installed: it
// names the kernels' raw signatures).
//
// One table of kernel entry points, each with its name (CADENZA_KERNELS
// below), and one set of memory functions (allocation, fills, copies). A
// backend fills them explicitly in a function of its own (backend_cpu.cpp;
// the CUDA backend when the build has CUDA and the machine a device), never
// through static initialisers, which a static link would drop; ggml's
// backends and ATen's dispatch stub are the models. A front end asks for
// the kernel of its inputs' device:
//
//   kernel(&Kernels::binary_forward, "binary_forward", x.device(), x.dtype())(args...)
//
// (the CADENZA_KERNEL macro spells that). An entry a backend left empty, or
// a dtype it does not list for it, is an op that device does not run: the
// call throws an Error naming the op, the device and the dtype, and nothing
// is ever copied to another device behind the caller's back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "kernels/cpu/batch_norm.h"
#include "kernels/cpu/conv1d.h"
#include "kernels/cpu/conv_nd.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gated_activation.h"
#include "kernels/cpu/index.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/random.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/rnn.h"
#include "kernels/cpu/softmax.h"

namespace cadenza::backend {

// Every kernel an engine front end calls, by the name it has everywhere
// (front end, kernels/cpu/<file>, kernels/cuda/<file>, tests, benchmarks).
#define CADENZA_KERNELS(X)                                                                       \
  X(unary_forward) X(binary_forward) X(where_forward) X(copy_cast) X(fill)                       \
  X(reduce_forward) X(softmax_forward) X(cross_entropy_forward) X(cross_entropy_backward) X(gemm)   \
  X(index_select_forward) X(index_add_forward) X(gather_forward) X(scatter_add_forward)          \
  X(conv1d_forward) X(conv1d_backward_input) X(conv1d_backward_weight) X(conv1d_backward_bias)   \
  X(conv_nd_forward) X(conv_nd_backward_input) X(conv_nd_backward_weight) X(conv_nd_backward_bias) \
  X(batch_norm_stats) X(batch_norm_forward) X(batch_norm_backward)                               \
  X(gated_activation_forward) X(gated_activation_backward)                                       \
  X(adam_step) X(sgd_step) X(sum_squares) X(scale_inplace)                                       \
  X(philox_uniform) X(philox_bernoulli) X(philox_normal)                                         \
  X(lstm_recurrent_forward) X(lstm_recurrent_backward) X(gru_recurrent_forward) X(gru_recurrent_backward)

// The entries, with the CPU kernels' signatures; a null entry is a kernel
// the backend does not have.
struct Kernels {
#define CADENZA_KERNEL_FIELD(name) decltype(&kernels::name) name = nullptr;
  CADENZA_KERNELS(CADENZA_KERNEL_FIELD)
#undef CADENZA_KERNEL_FIELD
};

// Which entry, by position in CADENZA_KERNELS.
enum class KernelId : int {
#define CADENZA_KERNEL_ID(name) name,
  CADENZA_KERNELS(CADENZA_KERNEL_ID)
#undef CADENZA_KERNEL_ID
  count
};
constexpr int kKernelCount = static_cast<int>(KernelId::count);
const char* kernel_name(KernelId id);
// Bit (1 << int(dtype)) per dtype an entry takes (its "main" dtype: the
// data's, not an index's).
using DTypeMask = uint32_t;
constexpr DTypeMask dtype_bit(DType t) { return DTypeMask{1} << static_cast<int>(t); }
constexpr DTypeMask kFloatTypes = dtype_bit(DType::f32) | dtype_bit(DType::f64);
constexpr DTypeMask kAllTypes = kFloatTypes | dtype_bit(DType::i32) | dtype_bit(DType::i64);

// Memory of one device kind. `index` is the device's ordinal (0 on the CPU).
struct Memory {
  void* (*allocate)(size_t bytes, int index) = nullptr;  // null when out of memory
  void (*release)(void* p, size_t bytes, int index) = nullptr;
  // Copies between this device and the host, and within the device.
  void (*to_host)(void* host_dst, const void* src, size_t bytes, int index) = nullptr;
  void (*from_host)(void* dst, const void* host_src, size_t bytes, int index) = nullptr;
  void (*within)(void* dst, const void* src, size_t bytes, int index) = nullptr;
  void (*zero)(void* p, size_t bytes, int index) = nullptr;
  int (*device_count)() = nullptr;
  void (*empty_cache)() = nullptr;  // returns cached blocks to the system
  void (*synchronize)(int index) = nullptr;  // waits for the device's queued work, every stream's

  // Streams and events (engine/stream.h). A stream or an event is an opaque
  // handle (cudaStream_t / cudaEvent_t on CUDA); the null stream is the
  // device's default stream. Work on one stream runs in order; the host
  // backends run everything at once, so their events complete at record.
  void* (*stream_create)(int index) = nullptr;
  void (*stream_destroy)(void* stream, int index) = nullptr;  // after waiting for its work
  void* (*current_stream)(int index) = nullptr;  // this thread's; the stream kernels run on
  void (*set_current_stream)(void* stream, int index) = nullptr;
  void (*stream_synchronize)(void* stream, int index) = nullptr;
  bool (*stream_query)(void* stream, int index) = nullptr;  // whether its work is done
  void* (*event_create)(bool timing, int index) = nullptr;
  void (*event_destroy)(void* event, int index) = nullptr;
  void (*event_record)(void* event, void* stream, int index) = nullptr;
  // `stream` (of device `index`) waits for `event` without blocking the host.
  void (*stream_wait_event)(void* stream, void* event, int index) = nullptr;
  void (*event_synchronize)(void* event, int index) = nullptr;
  bool (*event_query)(void* event, int index) = nullptr;
  float (*event_elapsed_ms)(void* start, void* end, int index) = nullptr;  // both timing, both done
  // The block at `p` (from allocate) is used on `stream` too: the allocator
  // must not hand it out again before that stream's work queued by its
  // release is done.
  void (*record_stream)(void* p, void* stream, int index) = nullptr;
};

struct Backend {
  std::string name;                 // "cpu", "cuda"
  Device::Kind kind = Device::cpu;
  Kernels kernels;
  DTypeMask dtypes[kKernelCount] = {};  // what each present entry takes
  Memory memory;
  // Ops this backend lacks, for listings and tests: names of empty entries.
  std::vector<bool> present() const;  // per entry, in CADENZA_KERNELS order
  std::vector<std::string> missing() const;
  bool supports(KernelId id, DType dt) const;
};

// The backend of a device: throws an Error when this build or this machine
// has none ("cuda:0 is not available: this cadenza was built without CUDA").
const Backend& backend_for(Device device);
// Whether `device` is the emulated CUDA device (CADENZA_EMULATE_CUDA=1: the
// CPU's kernels under cuda:0's name), whose memory is host memory, so that
// libraries that need real device memory (NCCL) cannot use it.
bool is_emulated(Device device);
// Every backend this process can use (the CPU's first).
std::vector<const Backend*> available_backends();

// Guard bytes after every host buffer (CADENZA_GUARD_BYTES, read once; 0:
// none), and how many releases found them overwritten.
size_t guard_bytes();
int64_t guard_violations();

// The backends' own fillers (explicit registration). The emulated CUDA
// device is the CPU's backend under cuda:0's name, with a current stream
// of its own (backend_cpu.cpp).
Backend make_cpu_backend();
Backend make_emulated_cuda_backend();
#if defined(CADENZA_BACKEND_HAS_CUDA)
Backend make_cuda_backend();
#endif

// The entry `id` of `device`'s backend, checked: throws "OP has no kernel
// on DEVICE for DTYPE" when the backend lacks it.
[[noreturn]] void throw_missing(const Backend& b, KernelId id, Device device, DType dt);
template <class F>
F kernel(F Kernels::*entry, KernelId id, Device device, DType dt) {
  const Backend& b = backend_for(device);
  F f = b.kernels.*entry;
  if (!f || !(b.dtypes[static_cast<int>(id)] & dtype_bit(dt))) throw_missing(b, id, device, dt);
  return f;
}

}  // namespace cadenza::backend

// CADENZA_KERNEL(binary_forward, x.device(), x.dtype())(args...)
#define CADENZA_KERNEL(name, device, dtype)                                                      \
  ::cadenza::backend::kernel(&::cadenza::backend::Kernels::name, ::cadenza::backend::KernelId::name, \
                             (device), (dtype))
