#pragma once
// Helpers shared by the op front ends (not installed as public API).
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/tensor.h"
#include "kernels/cpu/elementwise.h"

namespace cadenza::detail {

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);
std::vector<int64_t> wrap_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op);
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// A view of `base`'s storage with the given geometry (no history).
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);
// `x` seen with `shape` by broadcasting (stride 0), no history.
Tensor broadcast_view(const Tensor& x, const Shape& shape, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
void check_floating(const Tensor& x, const char* op);
void check_defined(const Tensor& x, const char* op, const char* what);
inline kernels::Operand operand(const Tensor& t) {
  return {t.raw_data(), t.strides().data()};
}
// Raw kernels without history, used by forwards and for masks.
Tensor unary_raw(kernels::UnaryOp op, const Tensor& x, double p0 = 0, double p1 = 0);
Tensor binary_raw(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const char* name);
// 0-d in t's dtype, on the CPU: a binary op with a device tensor takes it
// by value (no device tensor to make first). scalar_on puts it on t's
// device, for the ops that want their operands there (where).
Tensor scalar_like(double v, const Tensor& t);
Tensor scalar_on(double v, const Tensor& t);
// a and b on one device: a 0-d CPU tensor moves to the other's device; any
// other mix throws, naming op and devices.
std::pair<Tensor, Tensor> on_one_device(const Tensor& a, const Tensor& b, const char* op);
// Throws unless b (when defined) is on a's device: "op: weight is on cuda:0
// and input on cpu".
void check_same_device(const Tensor& a, const Tensor& b, const char* op, const char* a_name, const char* b_name);
Shape reduced_shape(const Shape& in, const std::vector<int64_t>& dims, bool keepdim);

}  // namespace cadenza::detail
