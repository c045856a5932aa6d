#pragma once
// Element types shared by kernels and the engine. Kernels know dtypes and
// raw buffers, never Tensor.
#include <cstdint>

namespace cadenza {
enum class DType : uint8_t { f32, f64, i32, i64 };
}  // namespace cadenza
