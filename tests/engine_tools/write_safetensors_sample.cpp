// Writes safetensors files with cadenza for tests/reference/check_safetensors_python.py,
// which loads them with Python's safetensors package and checks every value.
// The values follow simple formulas that the script recomputes.
//   write_safetensors_sample OUT_DIR
// writes OUT_DIR/sample.safetensors (save_safetensors: f32/f64/i32/i64),
// OUT_DIR/sample_bf16.safetensors (save_safetensors with as_bf16) and
// OUT_DIR/sample_bytes.safetensors (the byte layer: F16 and the small types).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/safetensors.h"
#include "engine/tensor.h"

using namespace cadenza;
namespace st = cadenza::safetensors;

namespace {

template <class T, class F>
std::vector<T> fill(size_t n, F f) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = f(static_cast<double>(i));
  return v;
}

template <class T>
st::Entry raw(const std::string& name, st::DType dtype, std::vector<int64_t> shape,
              const std::vector<T>& v) {
  st::Entry e{name, dtype, std::move(shape), std::vector<uint8_t>(v.size() * sizeof(T))};
  if (!v.empty()) std::memcpy(e.bytes.data(), v.data(), e.bytes.size());
  return e;
}

void write_all(const std::string& dir) {
  const std::map<std::string, std::string> meta = {
      {"format", "pt"},
      {"config", R"({"model": "lstm", "layers": 2, "hidden": 512})"},
      {"unicode", "caf\xc3\xa9 \xe2\x99\xab \"quoted\""}};
  save_safetensors(
      dir + "/sample.safetensors",
      {
          {"layers.0.weight",
           Tensor::from_vector(fill<float>(105, [](double i) { return i * 0.5 - 20; }), {3, 5, 7})},
          {"layers.0.bias",
           Tensor::from_vector(fill<double>(7, [](double i) { return 1.0 / (i + 1); }))},
          {"tokens",
           Tensor::from_vector(fill<int32_t>(6, [](double i) { return i * 7 - 10; }), {2, 3})},
          {"step", Tensor::from_vector<int64_t>({123456789012}, {})},
          {"extremes", Tensor::from_vector<int64_t>({std::numeric_limits<int64_t>::min(), -1,
                                                     std::numeric_limits<int64_t>::max()})},
          {"empty", Tensor::zeros({0, 4})},
          // A view: saved as its contiguous values [[1, 4], [2, 5], [3, 6]].
          {"transposed", Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1)},
      },
      meta);

  // Ties (1 + 2^-8 -> 1.0, 1 + 3 * 2^-8 -> 1 + 2^-6) and ordinary values;
  // the script holds PyTorch's BF16 bits for each.
  std::vector<float> w = {1.0f, 1.00390625f, 1.01171875f, 3.14159f, -1e-3f, 0.1f, 65504.0f, -0.0f};
  save_safetensors(dir + "/sample_bf16.safetensors",
                   {{"w", Tensor::from_vector(w)},
                    {"d", Tensor::from_vector<double>({0.1, -7.0})},
                    {"count", Tensor::from_vector<int64_t>({3})}},
                   {{"stored", "bf16"}}, /*as_bf16=*/true);

  std::vector<float> h = {1.0f, -2.5f, 65504.0f, 1e-5f, 6e-8f, 0.1f, 1.00048828125f, 70000.0f};
  std::vector<uint16_t> hb;
  for (float f : h) hb.push_back(st::float_to_f16(f));
  st::Contents c;
  c.tensors.push_back(raw("half", st::DType::F16, {2, 4}, hb));
  c.tensors.push_back(raw("mask", st::DType::BOOL, {3}, std::vector<uint8_t>{1, 0, 1}));
  c.tensors.push_back(raw("u8", st::DType::U8, {2}, std::vector<uint8_t>{0, 255}));
  c.tensors.push_back(raw("i8", st::DType::I8, {2}, std::vector<int8_t>{-128, 127}));
  c.tensors.push_back(raw("i16", st::DType::I16, {1, 2}, std::vector<int16_t>{-32768, 32767}));
  c.tensors.push_back(raw("u32", st::DType::U32, {1}, std::vector<uint32_t>{4000000000u}));
  c.tensors.push_back(raw("u64", st::DType::U64, {}, std::vector<uint64_t>{18000000000000000000u}));
  st::write(dir + "/sample_bytes.safetensors", c);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  try {
    write_all(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_safetensors_sample: %s\n", e.what());
    return 1;
  }
  return 0;
}
