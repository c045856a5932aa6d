#include "engine/npy.h"

#include <cstring>

#include "engine/file_io.h"
#include "engine/tensor.h"

namespace cadenza::npy {

static size_t descr_size(const std::string& d) {
  if (d == "<f4" || d == "<i4") return 4;
  if (d == "<f8" || d == "<i8") return 8;
  throw Error("npy: unsupported dtype '" + d + "'");
}

void save(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
          const void* data) {
  size_t n = descr_size(descr);
  std::string sh = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    sh += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) sh += ",";
    if (i + 1 < shape.size()) sh += " ";
    n *= static_cast<size_t>(shape[i]);
  }
  sh += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + sh + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  uint16_t hl = static_cast<uint16_t>(header.size());
  out.push_back(static_cast<char>(hl & 0xff));
  out.push_back(static_cast<char>(hl >> 8));
  out += header;
  out.append(static_cast<const char*>(data), n);
  write_file_atomic(path, out);
}

Array parse(const uint8_t* bytes, size_t size, const std::string& name) {
  auto bad = [&](const std::string& why) { return Error("npy: '" + name + "': " + why); };
  if (size < 10 || std::memcmp(bytes, "\x93NUMPY", 6) != 0) throw bad("not a .npy file (bad magic)");
  size_t hl, start;
  if (bytes[6] == 1) {
    hl = bytes[8] | (bytes[9] << 8);
    start = 10;
  } else {
    if (size < 12) throw bad("truncated header");
    hl = bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (size_t(bytes[11]) << 24);
    start = 12;
  }
  if (hl > size - start) throw bad("header runs past the end of the file");
  std::string h(reinterpret_cast<const char*>(bytes + start), hl);
  Array a;
  auto d = h.find("'descr':");
  if (d == std::string::npos) throw bad("header has no descr");
  auto q1 = h.find('\'', d + 8);
  auto q2 = q1 == std::string::npos ? q1 : h.find('\'', q1 + 1);
  if (q2 == std::string::npos) throw bad("header's descr is not a quoted string");
  a.descr = h.substr(q1 + 1, q2 - q1 - 1);
  if (h.find("'fortran_order': True") != std::string::npos) throw bad("Fortran order is not supported");
  auto sh = h.find("'shape':");
  auto s = sh == std::string::npos ? sh : h.find('(', sh);
  auto e = s == std::string::npos ? s : h.find(')', s);
  if (e == std::string::npos) throw bad("header has no shape");
  size_t n = 0;
  try {
    n = descr_size(a.descr);
  } catch (const Error&) {
    throw bad("unsupported dtype '" + a.descr + "' (float32, float64, int32 or int64, little-endian)");
  }
  std::string dims = h.substr(s + 1, e - s - 1);
  size_t pos = 0;
  while (pos < dims.size()) {
    while (pos < dims.size() && (dims[pos] == ' ' || dims[pos] == ',')) ++pos;
    if (pos >= dims.size()) break;
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(dims.substr(pos), &used);
    } catch (const std::exception&) {
      throw bad("shape (" + dims + ") is not a tuple of integers");
    }
    if (v < 0) throw bad("negative dimension");
    // The data must be in the file, so a product past its size is an error,
    // never a wrap-around.
    if (v != 0 && n > (size - start - hl) / static_cast<size_t>(v))
      throw bad("shape (" + dims + ") needs more data than the file holds");
    a.shape.push_back(v);
    n *= static_cast<size_t>(v);
    pos += used;
  }
  if (start + hl + n != size) throw bad("data size does not match the shape");
  a.bytes.assign(bytes + start + hl, bytes + size);
  return a;
}

Array load(const std::string& path) {
  auto bytes = read_file(path);
  return parse(bytes.data(), bytes.size(), path);
}

}  // namespace cadenza::npy
