// safetensors: the byte layer (engine/safetensors.h) and the Tensor bridge
// (engine/checkpoint.h). Round trips of every dtype, the exact layout the
// Python package writes, a file written by PyTorch
// (tests/reference/make_safetensors_golden.py), and one test per kind of
// malformed input, each checking that the error names the file and the fault.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/checkpoint.h"
#include "engine/file_io.h"
#include "engine/safetensors.h"

using namespace cadenza;
namespace st = cadenza::safetensors;
using Catch::Contains;

namespace {

const char* kBad = "bad.safetensors";

std::string temp_path(const std::string& stem) {
  auto dir = std::filesystem::temp_directory_path();
  return (dir / ("cadenza_st_" + std::to_string(::getpid()) + "_" + stem)).string();
}

struct TempFile {
  explicit TempFile(const std::string& stem) : path(temp_path(stem)) {}
  ~TempFile() { std::remove(path.c_str()); }
  std::string path;
};

// A file made of a u64 length, the given header (unpadded, as written) and
// `data_bytes` bytes of data.
std::string file_with(const std::string& header, size_t data_bytes = 0) {
  std::string f(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) f[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return f + header + std::string(data_bytes, '\x01');
}

st::Contents parse_str(const std::string& bytes) {
  return st::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), kBad);
}

template <class T>
std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

st::Entry entry(const std::string& name, st::DType dtype, std::vector<int64_t> shape) {
  st::Entry e{name, dtype, std::move(shape), {}};
  int64_t n = 1;
  for (int64_t d : e.shape) n *= d;
  e.bytes.resize(static_cast<size_t>(n) * st::element_size(dtype));
  for (size_t i = 0; i < e.bytes.size(); ++i) e.bytes[i] = static_cast<uint8_t>(i * 37 + 11);
  return e;
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

// ---------------------------------------------------------------- byte layer

TEST_CASE("safetensors: every dtype round-trips byte for byte", "[safetensors]") {
  st::Contents c;
  const st::DType all[] = {st::DType::BOOL,    st::DType::U8,  st::DType::I8,  st::DType::F8_E5M2,
                           st::DType::F8_E4M3, st::DType::I16, st::DType::U16, st::DType::F16,
                           st::DType::BF16,    st::DType::I32, st::DType::U32, st::DType::F32,
                           st::DType::F64,     st::DType::I64, st::DType::U64};
  int k = 0;
  for (st::DType d : all) {
    std::vector<int64_t> shape = k % 3 == 0   ? std::vector<int64_t>{5, 7, 11}
                                 : k % 3 == 1 ? std::vector<int64_t>{1, 13}
                                              : std::vector<int64_t>{3};
    c.tensors.push_back(entry(std::string("t.") + st::dtype_str(d), d, shape));
    ++k;
  }
  c.metadata = {{"a", "1"}, {"config", "{\"hidden\": 512}"}};
  std::string bytes = st::serialize(c);
  st::Contents back = parse_str(bytes);
  REQUIRE(back.tensors.size() == c.tensors.size());
  REQUIRE(back.metadata == c.metadata);
  for (const st::Entry& e : c.tensors) {
    const st::Entry* got = back.find(e.name);
    REQUIRE(got != nullptr);
    CHECK(got->dtype == e.dtype);
    CHECK(got->shape == e.shape);
    CHECK(got->bytes == e.bytes);
  }
  // Parsed back in file order, which is descending dtype: U64 first.
  CHECK(back.tensors.front().dtype == st::DType::U64);
  CHECK(back.tensors.back().dtype == st::DType::BOOL);
}

TEST_CASE("safetensors: layout matches the Python package byte for byte", "[safetensors]") {
  // safetensors.torch.save_file({"b": bf16 ones(3), "a": int8 ones(1),
  //   "c": f64 ones(1)}) writes exactly this header: larger dtypes first,
  //   compact JSON, padded with spaces to a multiple of 8.
  st::Contents c;
  c.tensors.push_back({"b", st::DType::BF16, {3}, {0x80, 0x3f, 0x80, 0x3f, 0x80, 0x3f}});
  c.tensors.push_back({"a", st::DType::I8, {1}, {1}});
  c.tensors.push_back({"c", st::DType::F64, {1}, bytes_of(std::vector<double>{1.0})});
  std::string f = st::serialize(c);
  const std::string want =
      "{\"c\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]},"
      "\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[14,15]}}";
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(f[i]);
  REQUIRE(n % 8 == 0);
  REQUIRE(n == want.size() + (8 - want.size() % 8) % 8);
  CHECK(f.substr(8, want.size()) == want);
  CHECK(f.substr(8 + want.size(), n - want.size()) == std::string(n - want.size(), ' '));
  CHECK(f.size() == 8 + n + 15);
  CHECK(f.substr(8 + n, 8) == std::string("\0\0\0\0\0\0\xf0\x3f", 8));  // 1.0 little-endian

  c.metadata = {{"k", "v"}};
  f = st::serialize(c);
  CHECK(f.substr(8, 25) == "{\"__metadata__\":{\"k\":\"v\"}");
}

TEST_CASE("safetensors: 0-d, empty and zero-sized tensors", "[safetensors]") {
  st::Contents c;
  c.tensors.push_back(entry("scalar", st::DType::F32, {}));
  c.tensors.push_back(entry("empty", st::DType::F32, {0}));
  c.tensors.push_back(entry("empty2", st::DType::F32, {0, 3}));
  c.tensors.push_back(entry("empty3", st::DType::I64, {4, 0, 2}));
  st::Contents back = parse_str(st::serialize(c));
  REQUIRE(back.tensors.size() == 4);
  CHECK(back.find("scalar")->shape.empty());
  CHECK(back.find("scalar")->bytes.size() == 4);
  CHECK(back.find("empty")->shape == std::vector<int64_t>{0});
  CHECK(back.find("empty2")->shape == std::vector<int64_t>{0, 3});
  CHECK(back.find("empty3")->shape == std::vector<int64_t>{4, 0, 2});
  CHECK(back.find("empty3")->bytes.empty());

  // No tensors at all, with and without metadata.
  st::Contents none;
  std::string f = st::serialize(none);
  CHECK(f.substr(8) == "{}      ");
  CHECK(parse_str(f).tensors.empty());
  none.metadata["only"] = "metadata";
  CHECK(parse_str(st::serialize(none)).metadata.at("only") == "metadata");
}

TEST_CASE("safetensors: metadata keeps any string, unicode and escapes", "[safetensors]") {
  st::Contents c;
  c.metadata = {{"config", R"({"layers": [1, 2], "name": "a\"b"})"},
                {"unicode", "caf\xc3\xa9 \xe2\x99\xab"},
                {"control", std::string("tab\tnew\nline\x01")},
                {"", "empty key"}};
  c.tensors.push_back(entry("w", st::DType::F32, {2}));
  CHECK(parse_str(st::serialize(c)).metadata == c.metadata);
}

TEST_CASE("safetensors: read and write go through files atomically", "[safetensors]") {
  TempFile f("rw.safetensors");
  st::Contents c;
  c.tensors.push_back(entry("x", st::DType::F64, {2, 3}));
  st::write(f.path, c);
  st::Contents back = st::read(f.path);
  REQUIRE(back.tensors.size() == 1);
  CHECK(back.tensors[0].bytes == c.tensors[0].bytes);
  // No temp file left beside it.
  int others = 0;
  for (auto& p : std::filesystem::directory_iterator(std::filesystem::path(f.path).parent_path()))
    if (p.path().string().rfind(f.path + ".tmp", 0) == 0) ++others;
  CHECK(others == 0);
}

TEST_CASE("safetensors: writer refuses what the format cannot hold", "[safetensors]") {
  st::Contents c;
  c.tensors.push_back(entry("w", st::DType::F32, {2}));
  c.tensors.push_back(entry("w", st::DType::F32, {3}));
  REQUIRE_THROWS_WITH(st::serialize(c), Contains("\"w\"") && Contains("twice"));
  c.tensors.pop_back();
  c.tensors.push_back(entry("__metadata__", st::DType::F32, {1}));
  REQUIRE_THROWS_WITH(st::serialize(c), Contains("reserved"));
  c.tensors.pop_back();
  c.tensors[0].bytes.pop_back();
  REQUIRE_THROWS_WITH(st::serialize(c), Contains("needs 8 bytes, got 7"));
  c.tensors[0] = entry("neg", st::DType::F32, {});
  c.tensors[0].shape = {-1};
  REQUIRE_THROWS_WITH(st::serialize(c), Contains("negative dimension"));
  c.tensors[0] = entry("w", st::DType::F32, {1});
  REQUIRE_THROWS_WITH(st::write("/nonexistent-dir/x.safetensors", c),
                      Contains("/nonexistent-dir/x.safetensors"));
}

// ---------------------------------------------------------------- bad input

TEST_CASE("safetensors bad input: file shorter than the length field", "[safetensors][bad]") {
  REQUIRE_THROWS_WITH(parse_str(""), Contains(kBad) && Contains("truncated"));
  REQUIRE_THROWS_WITH(parse_str(std::string("\x10\0\0", 3)), Contains(kBad) && Contains("3 bytes"));
}

TEST_CASE("safetensors bad input: header longer than the file", "[safetensors][bad]") {
  std::string f = file_with("{}");
  f[0] = 64;  // claims 64 bytes of header, 2 follow
  REQUIRE_THROWS_WITH(parse_str(f), Contains(kBad) && Contains("header length 64") &&
                                        Contains("longer than the 2 bytes"));
}

TEST_CASE("safetensors bad input: absurd header length is refused before allocating",
          "[safetensors][bad]") {
  std::string f = file_with("{}");
  for (int i = 0; i < 8; ++i) f[i] = '\xff';  // 2^64 - 1
  REQUIRE_THROWS_WITH(parse_str(f), Contains(kBad) && Contains("exceeds the limit"));
  uint64_t n = st::kMaxHeaderBytes + 1;
  for (int i = 0; i < 8; ++i) f[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  REQUIRE_THROWS_WITH(parse_str(f), Contains("header length 100000001 exceeds"));
}

TEST_CASE("safetensors bad input: data section truncated", "[safetensors][bad]") {
  st::Contents c;
  c.tensors.push_back(entry("w", st::DType::F32, {2, 3}));
  std::string f = st::serialize(c);
  f.resize(f.size() - 5);
  REQUIRE_THROWS_WITH(parse_str(f), Contains(kBad) && Contains("\"w\"") &&
                                        Contains("past the end of the data section (19 bytes)"));
}

TEST_CASE("safetensors bad input: offsets out of range", "[safetensors][bad]") {
  std::string h = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 8)),
                      Contains(kBad) && Contains("[8,16]") && Contains("past the end"));
  h = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,7]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 8)), Contains("end before they begin"));
  h = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,99999999999999999999]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 8)),
                      Contains("\"data_offsets\" must be two non-negative integers"));
  h = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 8)), Contains("non-negative integers"));
  h = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 8)), Contains("two non-negative integers"));
}

TEST_CASE("safetensors bad input: overlapping offsets", "[safetensors][bad]") {
  std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 12)),
                      Contains(kBad) && Contains("\"b\" (bytes 4..12) overlaps tensor \"a\""));
  // Two names for the same bytes are an overlap too.
  h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 8)), Contains("overlaps"));
}

TEST_CASE("safetensors bad input: gaps and trailing bytes", "[safetensors][bad]") {
  std::string h = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 8)),
                      Contains(kBad) && Contains("bytes 0..4 unused before tensor \"a\""));
  h = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 9)),
                      Contains("cover 4 bytes but the data section has 9"));
}

TEST_CASE("safetensors bad input: unknown dtype", "[safetensors][bad]") {
  std::string h = R"({"w":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 4)),
                      Contains(kBad) && Contains("\"w\" has unknown dtype \"F31\""));
  h = R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 4)), Contains("\"dtype\" must be a string"));
  h = R"({"w":{"shape":[1],"data_offsets":[0,4]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 4)), Contains("has no \"dtype\""));
}

TEST_CASE("safetensors bad input: shape does not match the byte range", "[safetensors][bad]") {
  std::string h = R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 20)),
                      Contains(kBad) && Contains("shape [2, 3] of F32, which needs 24 bytes") &&
                          Contains("hold 20"));
  h = R"({"w":{"dtype":"F64","shape":[],"data_offsets":[0,4]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 4)), Contains("needs 8 bytes"));
  // Dimensions whose product overflows must not wrap around to a match.
  h = R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 0)), Contains("overflows"));
  h = R"({"w":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,0]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 0)), Contains("non-negative integers, got -3"));
  h = R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 8)), Contains("non-negative integers, got 2.0"));
  h = R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 8)), Contains("\"shape\" must be a list"));
}

TEST_CASE("safetensors bad input: non-string metadata", "[safetensors][bad]") {
  std::string h = R"({"__metadata__":{"ok":"yes","epochs":10}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h)),
                      Contains(kBad) && Contains("key \"epochs\" must be a string, got number"));
  h = R"({"__metadata__":{"nested":{"a":"b"}}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h)), Contains("got object"));
  h = R"({"__metadata__":["a"]})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h)), Contains("\"__metadata__\" must be an object"));
}

TEST_CASE("safetensors bad input: duplicate names", "[safetensors][bad]") {
  std::string h = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                  R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h, 8)), Contains(kBad) && Contains("names \"w\" twice"));
  h = R"({"__metadata__":{},"__metadata__":{}})";
  REQUIRE_THROWS_WITH(parse_str(file_with(h)), Contains("twice"));
}

TEST_CASE("safetensors bad input: header that is not JSON or not an object", "[safetensors][bad]") {
  REQUIRE_THROWS_WITH(parse_str(file_with("{\"w\":")),
                      Contains(kBad) && Contains("not valid JSON"));
  REQUIRE_THROWS_WITH(parse_str(file_with(std::string("{}\0\0", 4))), Contains("not valid JSON"));
  REQUIRE_THROWS_WITH(parse_str(file_with("{\"\xff\":1}")), Contains("not valid JSON"));
  REQUIRE_THROWS_WITH(parse_str(file_with("[1,2]")), Contains("must be a JSON object, got array"));
  REQUIRE_THROWS_WITH(parse_str(file_with(R"({"w":[0,4]})")),
                      Contains("tensor \"w\" must be an object, got array"));
  REQUIRE_THROWS_WITH(parse_str(file_with("")), Contains("not valid JSON"));
  std::string deep = R"({"__metadata__":{"k":)" + std::string(100000, '[') + "]}}";
  REQUIRE_THROWS_WITH(parse_str(file_with(deep)), Contains(kBad) && Contains("nests deeper"));
}

TEST_CASE("safetensors bad input: read() names the path", "[safetensors][bad]") {
  TempFile f("bad_read.safetensors");
  write_file_atomic(f.path,
                    file_with(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4));
  REQUIRE_THROWS_WITH(st::read(f.path), Contains("'" + f.path + "'") && Contains("past the end"));
  REQUIRE_THROWS_WITH(load_safetensors(f.path), Contains(f.path));
  REQUIRE_THROWS_WITH(st::read(f.path + ".missing"), Contains(f.path + ".missing"));
}

// ---------------------------------------------------------------- bf16 / f16

TEST_CASE("safetensors: f16 conversion is exact for every half value", "[safetensors]") {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = st::f16_to_float(static_cast<uint16_t>(h));
    bool nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff) != 0;
    if (nan) {
      REQUIRE(std::isnan(f));
      REQUIRE(std::isnan(st::f16_to_float(st::float_to_f16(f))));
    } else {
      INFO("half bits " << h);
      REQUIRE(st::float_to_f16(f) == h);
    }
  }
  CHECK(st::f16_to_float(0x3c00) == 1.0f);
  CHECK(st::f16_to_float(0x0001) == std::ldexp(1.0f, -24));
  CHECK(st::f16_to_float(0x7bff) == 65504.0f);
}

TEST_CASE("safetensors: f16 rounds to nearest even, overflows to infinity", "[safetensors]") {
  CHECK(st::float_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);      // tie -> even (down)
  CHECK(st::float_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);  // tie -> even (up)
  CHECK(st::float_to_f16(65519.0f) == 0x7bff);
  CHECK(st::float_to_f16(65520.0f) == 0x7c00);
  CHECK(st::float_to_f16(-1e9f) == 0xfc00);
  CHECK(st::float_to_f16(std::ldexp(1.0f, -25)) == 0x0000);      // tie -> even zero
  CHECK(st::float_to_f16(3 * std::ldexp(1.0f, -26)) == 0x0001);  // above the tie
  CHECK(st::float_to_f16(std::ldexp(1023.5f, -24)) == 0x0400);   // rounds up into normals
  CHECK(st::float_to_f16(-0.0f) == 0x8000);
  CHECK(std::isnan(st::f16_to_float(st::float_to_f16(std::nanf("")))));
}

TEST_CASE("safetensors: bf16 conversion", "[safetensors]") {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = st::bf16_to_float(static_cast<uint16_t>(h));
    REQUIRE(bits(f) == h << 16);
    if (!std::isnan(f)) REQUIRE(st::float_to_bf16(f) == h);
  }
  CHECK(st::float_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);      // tie -> even (down)
  CHECK(st::float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);  // tie -> even (up)
  CHECK(st::float_to_bf16(from_bits(0x3f808001)) == 0x3f81);            // just above a tie
  CHECK(st::float_to_bf16(from_bits(0x7f7fffff)) == 0x7f80);            // max float -> inf
  uint16_t nan = st::float_to_bf16(from_bits(0x7fffffff));              // must not wrap
  CHECK(std::isnan(st::bf16_to_float(nan)));
  CHECK(std::isnan(st::bf16_to_float(st::float_to_bf16(from_bits(0x7f800001)))));

  // From double, rounding once: 1 + 2^-8 + 2^-40 rounds to float exactly on
  // a bf16 tie, so going through float would wrongly round down.
  CHECK(st::double_to_bf16(1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40)) == 0x3f81);
  CHECK(st::double_to_bf16(1.0 + std::ldexp(1.0, -8)) == 0x3f80);
  CHECK(st::double_to_bf16(-(1.0 + 3 * std::ldexp(1.0, -8))) == 0xbf82);
  CHECK(st::double_to_bf16(1e300) == 0x7f80);
  CHECK(st::double_to_bf16(-INFINITY) == 0xff80);
  CHECK(st::double_to_bf16(1e-300) == 0x0000);
  CHECK(std::isnan(st::bf16_to_float(st::double_to_bf16(std::nan("")))));
  for (float f : {0.1f, -3.75f, 1e-39f, 65504.0f, 3.0e38f})
    CHECK(st::double_to_bf16(f) == st::float_to_bf16(f));
}

// ---------------------------------------------------------------- Tensor bridge

TEST_CASE("checkpoint: tensors of every dtype round-trip", "[safetensors][checkpoint]") {
  TempFile f("tensors.safetensors");
  std::vector<float> a(3 * 5 * 7);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(static_cast<float>(i)) * 100.0f;
  std::vector<std::pair<std::string, Tensor>> in = {
      {"layers.0.weight", Tensor::from_vector(a, {3, 5, 7})},
      {"f64", Tensor::from_vector<double>({1e-300, -2.5, 1.0 / 3.0}, {3, 1})},
      {"i32", Tensor::from_vector<int32_t>({-2147483647 - 1, 0, 2147483647}, {1, 3})},
      {"i64", Tensor::from_vector<int64_t>({INT64_MIN, -1, INT64_MAX, 7}, {2, 2})},
      {"scalar", Tensor::scalar(2.5)},
      {"empty", Tensor::zeros({0, 4})},
      {"empty_i64", Tensor::zeros({2, 0}, DType::i64)},
      {"transposed", Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1)},
  };
  std::map<std::string, std::string> meta = {{"config", "{\"layers\": 2}"}, {"step", "100"}};
  save_safetensors(f.path, in, meta);
  LoadedTensors out = load_safetensors(f.path);
  CHECK(out.metadata == meta);
  CHECK(out.path == f.path);
  REQUIRE(out.tensors.size() == in.size());
  for (const auto& [name, t] : in) {
    INFO(name);
    REQUIRE(out.contains(name));
    Tensor g = out.at(name);
    CHECK(g.dtype() == t.dtype());
    CHECK(g.shape() == t.shape());
    if (t.dtype() == DType::i64) {
      CHECK(g.to_vector<int64_t>() == t.to_vector<int64_t>());
    } else {
      CHECK(g.to_vector<double>() == t.to_vector<double>());
    }
  }
  CHECK(out.at("transposed").to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK(out.at("scalar").dim() == 0);
}

TEST_CASE("checkpoint: as_bf16 halves floats and leaves integers", "[safetensors][checkpoint]") {
  TempFile f("bf16.safetensors");
  std::vector<float> v = {1.0f, 1.0f + std::ldexp(1.0f, -8), 3.14159f, -1e-3f, 65504.0f, 0.0f};
  save_safetensors(f.path,
                   {{"w", Tensor::from_vector(v)},
                    {"d", Tensor::from_vector<double>({0.1, -7.0})},
                    {"steps", Tensor::from_vector<int64_t>({1, 2, 3})}},
                   {}, /*as_bf16=*/true);
  st::Contents raw = st::read(f.path);
  CHECK(raw.find("w")->dtype == st::DType::BF16);
  CHECK(raw.find("d")->dtype == st::DType::BF16);
  CHECK(raw.find("steps")->dtype == st::DType::I64);
  LoadedTensors out = load_safetensors(f.path);
  Tensor w = out.at("w");
  CHECK(w.dtype() == DType::f32);
  std::vector<float> got = w.to_vector<float>();
  for (size_t i = 0; i < v.size(); ++i) CHECK(got[i] == st::bf16_to_float(st::float_to_bf16(v[i])));
  CHECK(got[1] == 1.0f);  // the tie went to even
  CHECK(out.at("d").dtype() == DType::f32);
  CHECK(out.at("steps").to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
}

TEST_CASE("checkpoint: at() names the missing tensor and the file", "[safetensors][checkpoint]") {
  TempFile f("missing.safetensors");
  save_safetensors(f.path, {{"present", Tensor::ones({2})}});
  LoadedTensors out = load_safetensors(f.path);
  CHECK_FALSE(out.contains("absent"));
  REQUIRE_THROWS_WITH(out.at("absent"),
                      Contains("'absent'") && Contains(f.path) && Contains("present"));
  REQUIRE_THROWS_WITH(save_safetensors(f.path, {{"u", Tensor()}}), Contains("'u' is undefined"));
}

// ---------------------------------------------------------------- PyTorch's file

namespace {
double expected_value(const nlohmann::json& v) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s == "nan") return std::nan("");
    return s == "inf" ? INFINITY : -INFINITY;
  }
  return v.get<double>();
}
}  // namespace

TEST_CASE("checkpoint: a file written by PyTorch loads with the right values",
          "[safetensors][checkpoint][golden]") {
  const std::string dir = std::string(CADENZA_SOURCE_DIR) + "/tests/golden/";
  std::ifstream js(dir + "torch_tensors.json");
  REQUIRE(js.good());
  nlohmann::json want = nlohmann::json::parse(js);
  LoadedTensors got = load_safetensors(dir + "torch_tensors.safetensors");

  std::map<std::string, std::string> meta = want["metadata"];
  CHECK(got.metadata == meta);
  REQUIRE(got.tensors.size() == want["tensors"].size());
  for (auto& [name, w] : want["tensors"].items()) {
    INFO(name);
    Tensor t = got.at(name);
    CHECK(t.shape() == w["shape"].get<Shape>());
    std::string dt = w["dtype"];
    DType expect = dt == "F64"                                    ? DType::f64
                   : dt == "I64"                                  ? DType::i64
                   : (dt == "F32" || dt == "BF16" || dt == "F16") ? DType::f32
                                                                  : DType::i32;
    CHECK(t.dtype() == expect);
    if (expect == DType::i64 || expect == DType::i32) {
      CHECK(t.to_vector<int64_t>() == w["values"].get<std::vector<int64_t>>());
      continue;
    }
    std::vector<double> g = t.to_vector<double>();
    REQUIRE(g.size() == w["values"].size());
    for (size_t i = 0; i < g.size(); ++i) {
      double e = expected_value(w["values"][i]);
      INFO("element " << i << ": " << g[i] << " vs " << e);
      if (std::isnan(e)) {
        CHECK(std::isnan(g[i]));
      } else {
        CHECK(g[i] == e);  // exact: every value is representable in the stored dtype
        CHECK(std::signbit(g[i]) == std::signbit(e));
      }
    }
  }

  // cadenza's own rounding agrees with torch's on every value, ties included.
  st::Contents raw = st::read(dir + "torch_tensors.safetensors");
  for (auto& [half, source] : want["sources"].items()) {
    INFO(half << " from " << source.get<std::string>());
    const st::Entry* h = raw.find(half);
    const st::Entry* s = raw.find(source.get<std::string>());
    REQUIRE(h != nullptr);
    REQUIRE(s != nullptr);
    size_t n = s->bytes.size() / 4;
    REQUIRE(h->bytes.size() == 2 * n);
    for (size_t i = 0; i < n; ++i) {
      float f;
      uint16_t torch_bits;
      std::memcpy(&f, s->bytes.data() + 4 * i, 4);
      std::memcpy(&torch_bits, h->bytes.data() + 2 * i, 2);
      uint16_t ours = h->dtype == st::DType::BF16 ? st::float_to_bf16(f) : st::float_to_f16(f);
      INFO("element " << i << " = " << f);
      if (std::isnan(f)) {
        CHECK(std::isnan(h->dtype == st::DType::BF16 ? st::bf16_to_float(ours)
                                                     : st::f16_to_float(ours)));
      } else {
        CHECK(ours == torch_bits);
      }
    }
  }
}
