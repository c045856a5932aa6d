// The CUDA backend on a machine with a GPU (ctest label cuda; exit 77, a
// skip, without one): tensors made on the device, zeroed, moved there and
// back through the pinned staging path, the elementwise kernels, GEMM, and
// the error of an op that has no CUDA kernel yet.
#include <cstdio>
#include <cstring>
#include <vector>

#include "engine/backend.h"
#include "engine/ops.h"

using namespace cadenza;

namespace {
int failures = 0;
void check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}
}  // namespace

int main() {
  if (backend::available_backends().size() < 2) {
    std::puts("skipped: no CUDA backend in this build or no CUDA device on this machine");
    return 77;
  }
  const Device gpu{Device::cuda, 0};
  try {
    Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor y = x.transpose(0, 1).to(gpu);
    check(y.device() == gpu, "to(cuda:0) puts the tensor on the device");
    check(y.to(Device{}).to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6}, "a small copy there and back");
    const int64_t n = int64_t{5} << 20;  // 20 MB: through the pinned staging buffer, in chunks
    std::vector<float> big(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) big[static_cast<size_t>(i)] = static_cast<float>(i % 9973) - 17.f;
    Tensor h = Tensor::from_vector<float>(big, {n});
    check(h.to(gpu).to(Device{}).to_vector<float>() == big, "a 20 MB copy there and back");
    Tensor z = Tensor::zeros({n}, DType::f64, gpu);
    std::vector<double> zs = z.to(Device{}).to_vector<double>();
    bool all_zero = true;
    for (double v : zs) all_zero = all_zero && v == 0;
    check(all_zero, "zeros on the device");
    Tensor sum2 = add(y, mul(y, y));  // the elementwise family runs on the device
    check(sum2.device() == gpu, "add and mul stay on the device");
    check(sum2.to(Device{}).to_vector<float>() == std::vector<float>{2, 20, 6, 30, 12, 42}, "add(y, y * y) on the device");
    check(y.to(DType::f64).contiguous().to(Device{}).to_vector<double>() == std::vector<double>{1, 4, 2, 5, 3, 6},
          "copy_cast to f64 of a strided tensor on the device");
    Tensor prod = matmul(y, y.transpose(0, 1));  // cuBLAS, row-major through the transposition
    check(prod.to(Device{}).to_vector<float>() ==
              matmul(x.transpose(0, 1), x).to_vector<float>(),
          "matmul on the device equals the CPU's");
    bool named = false;
    try {
      gated_activation(y.reshape({1, 2, 3}));
    } catch (const Error& e) {
      named = std::strstr(e.what(), "gated_activation_forward has no kernel on cuda:0 for f32") != nullptr;
      std::printf("  %s\n", e.what());
    }
    check(named, "an op without a CUDA kernel names the op, the device and the dtype");
    bool host = false;
    try {
      y.data<float>();
    } catch (const Error& e) {
      host = std::strstr(e.what(), "is on cuda:0") != nullptr;
    }
    check(host, "host access to a device tensor is refused");
  } catch (const std::exception& e) {
    std::printf("FAILED: %s\n", e.what());
    return 1;
  }
  return failures ? 1 : 0;
}
