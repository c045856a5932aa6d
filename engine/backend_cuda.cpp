// The CUDA backend: device memory and copies (kernels/cuda/runtime.cu) and
// the kernel entries that have CUDA kernels. It has none yet: every op on a
// CUDA tensor fails with an error naming the op, the device and the dtype,
// while tensors can be made on the device, filled with zeros, and moved
// there and back.
#include "engine/backend.h"

#if defined(CADENZA_BACKEND_HAS_CUDA)
#include "kernels/cuda/runtime.h"

namespace cadenza::backend {

Backend make_cuda_backend() {
  Backend b;
  b.name = "cuda";
  b.kind = Device::cuda;
  Memory& m = b.memory;
  m.allocate = cuda::device_allocate;
  m.release = cuda::device_release;
  m.to_host = cuda::copy_to_host;
  m.from_host = cuda::copy_from_host;
  m.within = cuda::copy_within;
  m.zero = cuda::zero;
  m.device_count = cuda::device_count;
  m.empty_cache = cuda::empty_cache;
  return b;
}

}  // namespace cadenza::backend
#endif
