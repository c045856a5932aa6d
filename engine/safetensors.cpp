#include "engine/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/file_io.h"
#include "engine/tensor.h"  // cadenza::Error only (header-only), so the fuzzer needs no Tensor
#include "kernels/math.h"

namespace cadenza::safetensors {

// The format stores little-endian data and this layer copies it verbatim.
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors I/O copies raw bytes and assumes a little-endian host");
#endif

using json = nlohmann::json;

namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::BOOL, "BOOL", 1},       {DType::U8, "U8", 1},           {DType::I8, "I8", 1},
    {DType::F8_E5M2, "F8_E5M2", 1}, {DType::F8_E4M3, "F8_E4M3", 1}, {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},         {DType::F16, "F16", 2},         {DType::BF16, "BF16", 2},
    {DType::I32, "I32", 4},         {DType::U32, "U32", 4},         {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},         {DType::I64, "I64", 8},         {DType::U64, "U64", 8},
};
static_assert(sizeof(kDTypes) / sizeof(kDTypes[0]) == static_cast<size_t>(DType::U64) + 1,
              "kDTypes must list every DType in enum order");

const DTypeInfo& info(DType t) {
  size_t i = static_cast<size_t>(t);
  if (i >= sizeof(kDTypes) / sizeof(kDTypes[0])) throw Error("safetensors: invalid DType value");
  return kDTypes[i];
}

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw Error("safetensors '" + file + "': " + what);
}

std::string json_quote(const std::string& s) {
  // Names come from untrusted files; dump() escapes control bytes. Invalid
  // UTF-8 cannot reach here (the JSON parser rejects it), but replace anyway.
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string json_type(const json& j) {
  return j.type_name();
}

// Multiplies with overflow checking; false when a * b exceeds `limit`.
bool mul_within(uint64_t a, uint64_t b, uint64_t limit, uint64_t* out) {
  if (a != 0 && b > limit / a) return false;
  *out = a * b;
  return true;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Where one tensor's bytes lie in the data section (after the header).
struct Span {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

Span parse_entry(const std::string& file, const std::string& name, const json& j,
                 uint64_t data_size) {
  const std::string what = "tensor " + json_quote(name);
  if (!j.is_object()) fail(file, what + " must be an object, got " + json_type(j));
  Span s{name, DType::F32, {}, 0, 0};

  auto dt = j.find("dtype");
  if (dt == j.end()) fail(file, what + " has no \"dtype\"");
  if (!dt->is_string()) fail(file, what + ": \"dtype\" must be a string, got " + json_type(*dt));
  if (!dtype_from_str(dt->get_ref<const std::string&>(), &s.dtype))
    fail(file, what + " has unknown dtype " + json_quote(dt->get_ref<const std::string&>()));

  auto sh = j.find("shape");
  if (sh == j.end()) fail(file, what + " has no \"shape\"");
  if (!sh->is_array()) fail(file, what + ": \"shape\" must be a list, got " + json_type(*sh));
  const uint64_t kMaxDim = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t numel = 1;
  bool numel_ok = true;
  for (const json& d : *sh) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > kMaxDim)
      fail(file, what + ": \"shape\" must hold non-negative integers, got " + d.dump());
    uint64_t v = d.get<uint64_t>();
    s.shape.push_back(static_cast<int64_t>(v));
    if (numel_ok && !mul_within(numel, v, kMaxDim, &numel)) numel_ok = false;
  }
  // A zero anywhere makes the tensor empty, whatever the other dimensions.
  if (std::find(s.shape.begin(), s.shape.end(), 0) != s.shape.end()) {
    numel = 0;
    numel_ok = true;
  }

  auto off = j.find("data_offsets");
  if (off == j.end()) fail(file, what + " has no \"data_offsets\"");
  if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    fail(file, what + ": \"data_offsets\" must be two non-negative integers, got " + off->dump());
  s.begin = (*off)[0].get<uint64_t>();
  s.end = (*off)[1].get<uint64_t>();
  if (s.end < s.begin)
    fail(file, what + " has data_offsets " + off->dump() + " that end before they begin");
  if (s.end > data_size)
    fail(file, what + " has data_offsets " + off->dump() + " past the end of the data section (" +
                   std::to_string(data_size) + " bytes)");

  uint64_t nbytes = 0;
  if (!numel_ok || !mul_within(numel, element_size(s.dtype), kMaxDim, &nbytes))
    fail(file, what + " has shape " + shape_text(s.shape) + " whose size overflows");
  if (nbytes != s.end - s.begin)
    fail(file, what + " has shape " + shape_text(s.shape) + " of " + dtype_str(s.dtype) +
                   ", which needs " + std::to_string(nbytes) + " bytes, but data_offsets " +
                   off->dump() + " hold " + std::to_string(s.end - s.begin));
  return s;
}

void parse_metadata(const std::string& file, const json& j,
                    std::map<std::string, std::string>* out) {
  if (!j.is_object()) fail(file, "\"__metadata__\" must be an object, got " + json_type(j));
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string())
      fail(file, "\"__metadata__\" value for key " + json_quote(it.key()) +
                     " must be a string, got " + json_type(it.value()));
    (*out)[it.key()] = it.value().get<std::string>();
  }
}

}  // namespace

size_t element_size(DType t) {
  return info(t).size;
}
const char* dtype_str(DType t) {
  return info(t).name;
}

bool dtype_from_str(const std::string& s, DType* out) {
  for (const DTypeInfo& d : kDTypes) {
    if (s == d.name) {
      *out = d.dtype;
      return true;
    }
  }
  return false;
}

const Entry* Contents::find(const std::string& name) const {
  for (const Entry& e : tensors)
    if (e.name == name) return &e;
  return nullptr;
}

Contents parse(const uint8_t* data, size_t size, const std::string& file) {
  if (size < 8)
    fail(file, "file is truncated: " + std::to_string(size) +
                   " bytes, fewer than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  // Both checks come before anything is allocated for the header.
  if (n > kMaxHeaderBytes)
    fail(file, "header length " + std::to_string(n) + " exceeds the limit of " +
                   std::to_string(kMaxHeaderBytes) + " bytes (corrupt or not a safetensors file)");
  if (n > size - 8)
    fail(file, "header length " + std::to_string(n) + " is longer than the " +
                   std::to_string(size - 8) + " bytes that follow it (truncated file?)");
  const uint8_t* header = data + 8;
  const uint8_t* body = header + n;
  const uint64_t data_size = size - 8 - n;

  // The DOM parser keeps the last of duplicate keys silently, so watch the
  // top-level keys (depth 1) as they stream past.
  std::set<std::string> seen;
  std::string duplicate;
  // A valid header nests three deep (root, tensor, shape); a deep one would
  // only make the DOM large, so stop it early.
  constexpr int kMaxDepth = 16;
  auto on_event = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (depth > kMaxDepth)
      fail(file, "header nests deeper than " + std::to_string(kMaxDepth) + " levels");
    if (ev == json::parse_event_t::key && depth == 1 && duplicate.empty()) {
      const std::string& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second) duplicate = k;
    }
    return true;
  };
  // nlohmann's lexer takes a NUL byte for the end of input and would ignore
  // whatever follows it; raw NULs are never valid JSON, so refuse them here.
  if (std::memchr(header, 0, n) != nullptr)
    fail(file, "header is not valid JSON: it contains a NUL byte at offset " +
                   std::to_string(static_cast<const uint8_t*>(std::memchr(header, 0, n)) - header));
  json root;
  try {
    root = json::parse(header, body, on_event);
  } catch (const json::exception& e) {
    fail(file, std::string("header is not valid JSON: ") + e.what());
  }
  if (!root.is_object()) fail(file, "header must be a JSON object, got " + json_type(root));
  if (!duplicate.empty()) fail(file, "header names " + json_quote(duplicate) + " twice");

  Contents out;
  std::vector<Span> spans;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      parse_metadata(file, it.value(), &out.metadata);
    } else {
      spans.push_back(parse_entry(file, it.key(), it.value(), data_size));
    }
  }

  // Like the Python package, demand that the tensors tile the data section
  // exactly: no overlaps (two tensors sharing bytes), no gaps, no tail.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.name < b.name;
  });
  uint64_t pos = 0;
  const Span* prev = nullptr;
  for (const Span& s : spans) {
    if (s.begin < pos)
      fail(file, "tensor " + json_quote(s.name) + " (bytes " + std::to_string(s.begin) + ".." +
                     std::to_string(s.end) + ") overlaps tensor " + json_quote(prev->name) +
                     " (bytes " + std::to_string(prev->begin) + ".." + std::to_string(prev->end) +
                     ")");
    if (s.begin > pos)
      fail(file, "data_offsets leave bytes " + std::to_string(pos) + ".." +
                     std::to_string(s.begin) + " unused before tensor " + json_quote(s.name));
    pos = s.end;
    prev = &s;
  }
  if (pos != data_size)
    fail(file, "the tensors cover " + std::to_string(pos) + " bytes but the data section has " +
                   std::to_string(data_size) + " (truncated, or trailing bytes)");

  // Only now, with every range checked against the file, copy the data.
  out.tensors.reserve(spans.size());
  for (Span& s : spans) {
    Entry e;
    e.name = std::move(s.name);
    e.dtype = s.dtype;
    e.shape = std::move(s.shape);
    e.bytes.assign(body + s.begin, body + s.end);
    out.tensors.push_back(std::move(e));
  }
  return out;
}

Contents read(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  return parse(bytes.data(), bytes.size(), path);
}

std::string serialize(const Contents& c) {
  // Validate first so a bad entry never produces a file Python would refuse.
  std::set<std::string> names;
  std::vector<const Entry*> order;
  for (const Entry& e : c.tensors) {
    const std::string what = "safetensors: cannot write tensor " + json_quote(e.name);
    if (e.name == "__metadata__") throw Error(what + ": the name is reserved for metadata");
    if (!names.insert(e.name).second) throw Error(what + ": the name appears twice");
    uint64_t numel = 1;
    for (int64_t d : e.shape) {
      if (d < 0) throw Error(what + ": negative dimension in shape " + shape_text(e.shape));
      if (!mul_within(numel, static_cast<uint64_t>(d), std::numeric_limits<uint64_t>::max(),
                      &numel))
        throw Error(what + ": shape " + shape_text(e.shape) + " overflows");
    }
    uint64_t want = 0;
    if (!mul_within(numel, element_size(e.dtype), std::numeric_limits<uint64_t>::max(), &want) ||
        want != e.bytes.size())
      throw Error(what + ": shape " + shape_text(e.shape) + " of " + dtype_str(e.dtype) +
                  " needs " + std::to_string(want) + " bytes, got " +
                  std::to_string(e.bytes.size()));
    order.push_back(&e);
  }
  // Larger elements first keeps every tensor aligned to its element size
  // (the header is padded to 8); the Python package uses the same order.
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    if (a->dtype != b->dtype) return a->dtype > b->dtype;
    return a->name < b->name;
  });

  auto dump = [](const json& j, const std::string& context) {
    try {
      return j.dump();
    } catch (const json::exception&) {
      throw Error("safetensors: cannot write " + context + ": not valid UTF-8");
    }
  };
  std::string h = "{";
  if (!c.metadata.empty()) {
    json m = json::object();
    for (const auto& [k, v] : c.metadata) m[k] = v;
    h += "\"__metadata__\":" + dump(m, "the metadata");
  }
  uint64_t offset = 0;
  for (const Entry* e : order) {
    if (h.size() > 1) h += ",";
    // Python writes the keys in this order; a json object would sort them.
    h += dump(json(e->name), "tensor name") + ":{\"dtype\":\"" + dtype_str(e->dtype) +
         "\",\"shape\":" + json(e->shape).dump() + ",\"data_offsets\":[" + std::to_string(offset) +
         "," + std::to_string(offset + e->bytes.size()) + "]}";
    offset += e->bytes.size();
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + h.size() + offset);
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += h;
  for (const Entry* e : order) out.append(e->bytes.begin(), e->bytes.end());
  return out;
}

void write(const std::string& path, const Contents& contents) {
  std::string bytes;
  try {
    bytes = serialize(contents);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (writing '" + path + "')");
  }
  write_file_atomic(path, bytes);
}

// ---------------------------------------------------------------- bf16 / f16

namespace {
uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

uint16_t float_to_bf16(float f) { return kmath::bf16_bits(f); }

float bf16_to_float(uint16_t h) { return kmath::bf16_value(h); }

uint16_t double_to_bf16(double d) {
  const uint16_t sign = std::signbit(d) ? 0x8000u : 0u;
  if (std::isnan(d)) return sign | 0x7fc0u;
  // Beyond float's range is beyond bf16's too (and the cast would be UB).
  if (std::fabs(d) > std::numeric_limits<float>::max()) return sign | 0x7f80u;
  // Round to float with round-to-odd (truncate, then set the last bit when
  // inexact): float keeps 16 more bits than bf16, so the second rounding
  // then gives the correctly rounded result.
  float f = static_cast<float>(d);
  if (static_cast<double>(f) != d) {
    if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
    f = float_of(bits_of(f) | 1u);
  }
  return float_to_bf16(f);
}

uint16_t float_to_f16(float f) {
  uint32_t x = bits_of(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u)  // NaN: quiet, keep the top payload bits
    return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  // 65520 is halfway between the largest half (65504) and 65536, and ties go
  // to the even neighbour, which is infinity.
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (a >= 0x38800000u) {  // normal half: rebias the exponent (127 -> 15)
    uint32_t h = (a - 0x38000000u) >> 13;
    uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry bumps the exponent
    return static_cast<uint16_t>(sign | h);
  }
  // Subnormal half: units of 2^-24. Below 2^-25 everything rounds to zero.
  uint32_t exp = a >> 23;
  if (exp < 102) return sign;
  uint32_t mant = (a & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126 - exp;  // 14..24
  uint32_t h = mant >> shift;
  uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (h & 1u))) ++h;  // may become the smallest normal: right
  return static_cast<uint16_t>(sign | h);
}

float f16_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(mant), -24);  // exact
    return float_of(bits_of(v) | sign);
  }
  if (exp == 31) return float_of(sign | 0x7f800000u | (mant << 13));
  return float_of(sign | ((exp + 112) << 23) | (mant << 13));
}

}  // namespace cadenza::safetensors
