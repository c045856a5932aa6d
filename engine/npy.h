#pragma once
// NumPy .npy (format 1.0) writer and reader for plain arrays: the interchange
// format of `cadenza midi tokens` and `cadenza audio features`.
#include <cstdint>
#include <string>
#include <vector>

namespace cadenza::npy {

struct Array {
  std::string descr;  // "<f4", "<f8", "<i4", "<i8"
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // C order, little endian
};

// dtype: "<f4" float32, "<f8" float64, "<i4" int32, "<i8" int64. Atomic write.
void save(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
          const void* data);
inline void save(const std::string& path, const std::vector<float>& v,
                 const std::vector<int64_t>& shape) { save(path, "<f4", shape, v.data()); }
inline void save(const std::string& path, const std::vector<int32_t>& v,
                 const std::vector<int64_t>& shape) { save(path, "<i4", shape, v.data()); }

// Reads a C-order little-endian .npy of one of the dtypes above; errors
// (cadenza::Error) name the file and what is wrong.
Array load(const std::string& path);
// The same from bytes in memory; `name` is used in error messages.
Array parse(const uint8_t* bytes, size_t size, const std::string& name);

}  // namespace cadenza::npy
