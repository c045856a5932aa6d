#include "engine/checkpoint.h"

#include <cstring>
#include <limits>

#include "engine/safetensors.h"

namespace cadenza {

namespace st = safetensors;

namespace {

std::string quote(const std::string& s) {
  return "'" + s + "'";
}

template <class T>
std::vector<T> decode(const std::vector<uint8_t>& bytes) {
  std::vector<T> v(bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

// from_data with a vector that may be empty (its data() may be null).
template <class T>
Tensor tensor_of(const std::vector<T>& v, const Shape& shape) {
  T dummy{};
  return Tensor::from_data(v.empty() ? &dummy : v.data(), shape, dtype_of<T>());
}

// Same layout in the file and in memory: one copy (from_data memcpys, so the
// byte buffer needs no alignment).
Tensor raw_tensor(const std::vector<uint8_t>& bytes, const Shape& shape, DType dtype) {
  static const uint64_t kNothing = 0;
  const void* p = bytes.empty() ? static_cast<const void*>(&kNothing) : bytes.data();
  return Tensor::from_data(p, shape, dtype);
}

template <class Src, class Dst>
Tensor widen(const std::vector<uint8_t>& bytes, const Shape& shape) {
  std::vector<Src> src = decode<Src>(bytes);
  std::vector<Dst> dst(src.begin(), src.end());
  return tensor_of(dst, shape);
}

Tensor to_tensor(const st::Entry& e, const std::string& path) {
  const Shape& shape = e.shape;
  switch (e.dtype) {
    case st::DType::F32:
      return raw_tensor(e.bytes, shape, DType::f32);
    case st::DType::F64:
      return raw_tensor(e.bytes, shape, DType::f64);
    case st::DType::I32:
      return raw_tensor(e.bytes, shape, DType::i32);
    case st::DType::I64:
      return raw_tensor(e.bytes, shape, DType::i64);
    case st::DType::BF16:
    case st::DType::F16: {
      std::vector<uint16_t> h = decode<uint16_t>(e.bytes);
      std::vector<float> f(h.size());
      for (size_t i = 0; i < h.size(); ++i)
        f[i] = e.dtype == st::DType::BF16 ? st::bf16_to_float(h[i]) : st::f16_to_float(h[i]);
      return tensor_of(f, shape);
    }
    case st::DType::BOOL: {
      std::vector<int32_t> v(e.bytes.size());
      for (size_t i = 0; i < v.size(); ++i) v[i] = e.bytes[i] != 0;
      return tensor_of(v, shape);
    }
    case st::DType::U8:
      return widen<uint8_t, int32_t>(e.bytes, shape);
    case st::DType::I8:
      return widen<int8_t, int32_t>(e.bytes, shape);
    case st::DType::I16:
      return widen<int16_t, int32_t>(e.bytes, shape);
    case st::DType::U16:
      return widen<uint16_t, int32_t>(e.bytes, shape);
    case st::DType::U32:
      return widen<uint32_t, int64_t>(e.bytes, shape);
    case st::DType::U64: {
      std::vector<uint64_t> v = decode<uint64_t>(e.bytes);
      for (uint64_t x : v)
        if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          throw Error("load_safetensors " + quote(path) + ": tensor " + quote(e.name) +
                      " (U64) holds " + std::to_string(x) + ", beyond the i64 range");
      return widen<uint64_t, int64_t>(e.bytes, shape);
    }
    case st::DType::F8_E5M2:
    case st::DType::F8_E4M3:
      break;
  }
  throw Error("load_safetensors " + quote(path) + ": tensor " + quote(e.name) + " has dtype " +
              st::dtype_str(e.dtype) + ", which cadenza cannot load");
}

st::Contents contents_of(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                        const std::map<std::string, std::string>& metadata, bool as_bf16) {
  st::Contents c;
  c.metadata = metadata;
  c.tensors.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    const std::string what = "save_safetensors " + quote(path) + ": tensor " + quote(name);
    if (!t.defined()) throw Error(what + " is undefined");
    // Copying from device memory here would hide a slow path; the caller
    // moves tensors to the CPU explicitly.
    if (t.device().kind != Device::cpu)
      throw Error(what + " is on " + t.device().str() + "; move it to the CPU first");
    Tensor src = t.detach().contiguous();  // a copy only when t is a strided view
    st::Entry e;
    e.name = name;
    e.shape = src.shape();
    const size_t n = static_cast<size_t>(src.numel());
    const uint8_t* p = static_cast<const uint8_t*>(n ? src.raw_data() : nullptr);
    if (as_bf16 && is_floating(src.dtype())) {
      e.dtype = st::DType::BF16;
      e.bytes.resize(n * 2);
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = src.dtype() == DType::f32
                         ? st::float_to_bf16(reinterpret_cast<const float*>(p)[i])
                         : st::double_to_bf16(reinterpret_cast<const double*>(p)[i]);
        std::memcpy(e.bytes.data() + 2 * i, &h, 2);
      }
    } else {
      switch (src.dtype()) {
        case DType::f32:
          e.dtype = st::DType::F32;
          break;
        case DType::f64:
          e.dtype = st::DType::F64;
          break;
        case DType::i32:
          e.dtype = st::DType::I32;
          break;
        case DType::i64:
          e.dtype = st::DType::I64;
          break;
        default:
          throw Error(what + " has dtype " + dtype_name(src.dtype()) +
                      ", which save_safetensors does not handle");
      }
      if (n) e.bytes.assign(p, p + n * dtype_size(src.dtype()));
    }
    c.tensors.push_back(std::move(e));
  }
  return c;
}

LoadedTensors loaded_of(st::Contents c, const std::string& path) {
  LoadedTensors out;
  out.path = path;
  out.metadata = std::move(c.metadata);
  out.tensors.reserve(c.tensors.size());
  for (st::Entry& e : c.tensors) {
    Tensor t = to_tensor(e, path);
    std::vector<uint8_t>().swap(e.bytes);  // free as we go: peak memory stays near one copy
    out.tensors.emplace_back(std::move(e.name), std::move(t));
  }
  return out;
}

}  // namespace

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata, bool as_bf16) {
  st::write(path, contents_of(path, tensors, metadata, as_bf16));
}

std::string safetensors_bytes(const std::vector<std::pair<std::string, Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  return st::serialize(contents_of("(in memory)", tensors, metadata, false));
}

bool LoadedTensors::contains(const std::string& name) const {
  for (const auto& kv : tensors)
    if (kv.first == name) return true;
  return false;
}

Tensor LoadedTensors::at(const std::string& name) const {
  for (const auto& kv : tensors)
    if (kv.first == name) return kv.second;
  std::string have;
  for (size_t i = 0; i < tensors.size() && i < 8; ++i) have += (i ? ", " : "") + tensors[i].first;
  if (tensors.size() > 8) have += ", ...";
  throw Error("safetensors '" + path + "' has no tensor '" + name + "' (it holds " +
              std::to_string(tensors.size()) + ": " + have + ")");
}

LoadedTensors load_safetensors(const std::string& path) { return loaded_of(st::read(path), path); }

LoadedTensors load_safetensors_bytes(const uint8_t* data, size_t size, const std::string& name) {
  return loaded_of(st::parse(data, size, name), name);
}

}  // namespace cadenza
