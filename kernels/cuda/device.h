#pragma once
// CUDA device discovery. Compiled only when the build has CUDA; the engine
// answers "no devices" otherwise (engine/device.h).
#include <string>
#include <vector>

namespace cadenza::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  size_t total_memory = 0;
  int multiprocessors = 0;
};

// Devices the driver reports; empty (not an error) when there is no GPU or driver.
std::vector<DeviceInfo> list_devices();

// Runs a one-thread kernel on `device` on `stream` (null: the default
// stream); true when it ran correctly.
bool probe_device(int device, void* stream = nullptr);

}  // namespace cadenza::cuda
