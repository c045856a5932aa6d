#include "engine/backend.h"

#include <cadenza/config.h>

#include <cstdlib>
#include <cstring>

namespace cadenza::backend {

namespace {

const char* const kNames[] = {
#define CADENZA_KERNEL_NAME(name) #name,
    CADENZA_KERNELS(CADENZA_KERNEL_NAME)
#undef CADENZA_KERNEL_NAME
};

std::string mask_names(DTypeMask m) {
  std::string out;
  for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64})
    if (m & dtype_bit(t)) out += (out.empty() ? "" : ", ") + std::string(dtype_name(t));
  return out;
}

#if defined(CADENZA_BACKEND_HAS_CUDA)
// The CUDA backend, or null when the machine has no device (the driver says
// so; not an error until a tensor asks for one).
const Backend* cuda_backend() {
  static Backend* b = [] {
    Backend made = make_cuda_backend();
    return made.memory.device_count && made.memory.device_count() > 0 ? new Backend(std::move(made)) : nullptr;
  }();
  return b;
}
#endif

// CADENZA_EMULATE_CUDA=1 on a machine without a CUDA device: cuda:0 is the
// CPU's kernels and host memory under a device's name. Tensors on it are
// refused host access like a real device's, so the CPU tests exercise every
// `--device cuda` path (moves, checkpoints, host reads) with the CPU's math.
const Backend* emulated_cuda() {
  const char* e = std::getenv("CADENZA_EMULATE_CUDA");
  if (!e || std::strcmp(e, "1") != 0) return nullptr;
  static const Backend* b = new Backend(make_emulated_cuda_backend());
  return b;
}

}  // namespace

const char* kernel_name(KernelId id) {
  int i = static_cast<int>(id);
  return i >= 0 && i < kKernelCount ? kNames[i] : "?";
}

std::vector<bool> Backend::present() const {
  return {
#define CADENZA_KERNEL_PRESENT(name) kernels.name != nullptr,
      CADENZA_KERNELS(CADENZA_KERNEL_PRESENT)
#undef CADENZA_KERNEL_PRESENT
  };
}

std::vector<std::string> Backend::missing() const {
  std::vector<std::string> out;
  std::vector<bool> have = present();
  for (int i = 0; i < kKernelCount; ++i)
    if (!have[i]) out.push_back(kNames[i]);
  return out;
}

bool Backend::supports(KernelId id, DType dt) const {
  int i = static_cast<int>(id);
  return i >= 0 && i < kKernelCount && present()[i] && (dtypes[i] & dtype_bit(dt));
}

void throw_missing(const Backend& b, KernelId id, Device device, DType dt) {
  const int i = static_cast<int>(id);
  std::string what = std::string(kernel_name(id)) + " has no kernel on " + device.str() + " for " + dtype_name(dt);
  if (b.present()[i] && b.dtypes[i])
    what += " (the " + b.name + " backend takes " + mask_names(b.dtypes[i]) + ")";
  else
    what += " (the " + b.name + " backend does not have this op yet)";
  throw Error(what + "; move the tensors to a device that has it with to(Device)");
}

const Backend& backend_for(Device device) {
  if (device.kind == Device::cpu) {
    // Never destroyed: storages freed during static destruction still find it.
    static const Backend* cpu = new Backend(make_cpu_backend());
    return *cpu;
  }
#if defined(CADENZA_BACKEND_HAS_CUDA)
  const Backend* cuda = cuda_backend();
  if (!cuda) cuda = emulated_cuda();
  if (!cuda) throw Error(device.str() + " is not available: this machine has no CUDA device");
  int n = cuda->memory.device_count();
  if (device.index < 0 || device.index >= n)
    throw Error(device.str() + " is not available: this machine has " + std::to_string(n) + " CUDA device(s)");
  return *cuda;
#else
  if (const Backend* emulated = emulated_cuda()) {
    if (device.index != 0) throw Error(device.str() + " is not available: the emulation has cuda:0 only");
    return *emulated;
  }
  throw Error(device.str() + " is not available: this cadenza was built without CUDA (CADENZA_CUDA=OFF or no nvcc)");
#endif
}

bool is_emulated(Device device) {
  return device.kind == Device::cuda && emulated_cuda() != nullptr && &backend_for(device) == emulated_cuda();
}

std::vector<const Backend*> available_backends() {
  std::vector<const Backend*> out = {&backend_for(Device{})};
#if defined(CADENZA_BACKEND_HAS_CUDA)
  if (cuda_backend()) {
    out.push_back(cuda_backend());
    return out;
  }
#endif
  if (const Backend* emulated = emulated_cuda()) out.push_back(emulated);
  return out;
}

}  // namespace cadenza::backend
