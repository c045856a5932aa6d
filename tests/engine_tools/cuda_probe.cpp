// Lists the CUDA devices and runs the probe kernel on each. Exits 77 (ctest's
// skip code) when the machine has no GPU, 1 when a device fails the probe.
#include <cstdio>
#include <exception>

#include "kernels/cuda/device.h"

int main() {
  try {
    auto devices = cadenza::cuda::list_devices();
    if (devices.empty()) {
      std::printf("no CUDA device: skipping\n");
      return 77;
    }
    for (auto& d : devices) {
      bool ok = cadenza::cuda::probe_device(d.index);
      std::printf("cuda:%d %s (sm_%d%d, %zu MiB, %d SMs): %s\n", d.index, d.name.c_str(), d.major, d.minor,
                  d.total_memory >> 20, d.multiprocessors, ok ? "ok" : "FAILED");
      if (!ok) return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
