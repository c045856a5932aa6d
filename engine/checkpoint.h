#pragma once
// Tensors to and from safetensors files (engine/safetensors.h holds the byte
// format). Names and layouts follow PyTorch, so a state dict saved here loads
// with safetensors.torch.load_file, and a PyTorch file loads here.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace cadenza {

// Writes CPU tensors (any layout; they are made contiguous) in file order
// chosen by the format. `metadata` is free-form strings (e.g. the model
// config as JSON). as_bf16 stores f32/f64 tensors as BF16 (round to nearest
// even), halving the file; integer tensors are stored as they are. Atomic.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      bool as_bf16 = false);

struct LoadedTensors {
  std::string path;                                     // for error messages
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;

  bool contains(const std::string& name) const;
  // Throws cadenza::Error naming the missing tensor and the file.
  Tensor at(const std::string& name) const;
};

// Loads every tensor onto the CPU. F32/F64/I32/I64 keep their dtype; BF16 and
// F16 become f32; BOOL/U8/I8/I16/U16 become i32 and U32/U64 become i64 (a U64
// value above the i64 range is an error). FP8 tensors are refused.
LoadedTensors load_safetensors(const std::string& path);

// The same in memory: the bytes save_safetensors would write (f32/f64/i32/i64
// as they are), and a parse of such bytes (`name` starts its errors).
std::string safetensors_bytes(const std::vector<std::pair<std::string, Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata = {});
LoadedTensors load_safetensors_bytes(const uint8_t* data, size_t size, const std::string& name);

}  // namespace cadenza
