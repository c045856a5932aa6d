#pragma once
// The safetensors file format at the byte level: an 8-byte little-endian
// header length N, N bytes of JSON ({"name": {"dtype", "shape",
// "data_offsets"}, "__metadata__": {string: string}}, padded with spaces to a
// multiple of 8), then the raw little-endian tensor data. This layer knows no
// Tensor (engine/checkpoint.h bridges the two), so the parser can be fuzzed
// alone. Every malformed input throws cadenza::Error naming the file.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cadenza::safetensors {

// The dtypes of the Python package, in its order: the writer sorts on this
// order (descending) so that every tensor starts aligned to its element size.
enum class DType : uint8_t {
  BOOL,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  F64,
  I64,
  U64,
};

size_t element_size(DType t);
const char* dtype_str(DType t);  // "F32"
// Returns false for a name that is not a safetensors dtype.
bool dtype_from_str(const std::string& s, DType* out);

struct Entry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // {} is a 0-d tensor (one element)
  std::vector<uint8_t> bytes;  // numel(shape) * element_size(dtype), little-endian
};

struct Contents {
  std::vector<Entry> tensors;  // parse(): in file order (by data offset)
  std::map<std::string, std::string> metadata;
  // nullptr when there is no tensor of that name.
  const Entry* find(const std::string& name) const;
};

// Headers longer than this are refused before anything is allocated (the
// Python package has the same limit).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Parses a whole file held in memory. `name_for_errors` (usually the path)
// starts every error message.
Contents parse(const uint8_t* data, size_t size, const std::string& name_for_errors);
Contents read(const std::string& path);

// The whole file as bytes, laid out as the Python package lays it out:
// __metadata__ first, tensors by descending dtype then by name, header padded
// with spaces to 8 bytes. Throws on duplicate or reserved names, or on an
// entry whose byte count does not match its shape.
std::string serialize(const Contents& contents);
// serialize() written atomically (temp file, fsync, rename).
void write(const std::string& path, const Contents& contents);

// Storage conversions; both round to nearest, ties to even, and keep
// infinities, NaNs (as quiet NaNs) and the sign of zero.
uint16_t float_to_bf16(float f);
float bf16_to_float(uint16_t h);
// Rounds once, directly from double (going through float first could round
// twice and miss the nearest bf16).
uint16_t double_to_bf16(double d);
uint16_t float_to_f16(float f);  // overflows to infinity; keeps subnormals
float f16_to_float(uint16_t h);

}  // namespace cadenza::safetensors
