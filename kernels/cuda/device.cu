#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"

namespace cadenza::cuda {

namespace {
// A trivial kernel, so that every CUDA build compiles and links device code.
__global__ void probe_kernel(int* out) { *out = 42; }
}  // namespace

std::vector<DeviceInfo> list_devices() {
  std::vector<DeviceInfo> out;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear "no device" / "no driver"
    return out;
  }
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    CADENZA_CUDA_CHECK(cudaGetDeviceProperties(&p, i));
    out.push_back({i, p.name, p.major, p.minor, p.totalGlobalMem, p.multiProcessorCount});
  }
  return out;
}

// Runs probe_kernel on `device` on the given stream; returns true when the
// device computed the expected value.
bool probe_device(int device, void* stream_ptr) {
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  CADENZA_CUDA_CHECK(cudaSetDevice(device));
  int* d = nullptr;
  CADENZA_CUDA_CHECK(cudaMalloc(&d, sizeof(int)));
  probe_kernel<<<1, 1, 0, stream>>>(d);
  CADENZA_CUDA_CHECK(cudaGetLastError());
  int h = 0;
  CADENZA_CUDA_CHECK(cudaMemcpyAsync(&h, d, sizeof(int), cudaMemcpyDeviceToHost, stream));
  CADENZA_CUDA_CHECK(cudaStreamSynchronize(stream));
  CADENZA_CUDA_CHECK(cudaFree(d));
  return h == 42;
}

}  // namespace cadenza::cuda
