#pragma once
// Elementwise kernels over strided operands of one shape (strides in
// elements; 0 for a broadcast dim). Outputs may be strided too.
#include <cstdint>

#include "kernels/dtype.h"

namespace cadenza::kernels {

enum class UnaryOp : int {
  neg, exp, log, log1p, sqrt, rsqrt, abs, sign, tanh, sigmoid, relu, sin, cos,
  leaky_relu,  // p0 = slope
  softplus,    // p0 = beta, p1 = threshold
  clamp,       // p0 = lo, p1 = hi (use +-inf for none)
  pow_scalar,  // p0 = exponent
  isinf,
  positive,    // 1 where x > 0 (relu's derivative)
  leaky_grad,  // 1 where x > 0 else p0
  in_range,    // 1 where p0 <= x <= p1 (clamp's derivative)
  // A binary op with a scalar operand given by value: BinaryOp p1 of
  // (x, p0) or of (p0, x), as binary_forward with a 0-d operand holding
  // p0 in the dtype (a device needs no buffer made for the scalar first).
  scalar_right,
  scalar_left,
};

enum class BinaryOp : int { add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge };

struct Operand {
  void* data;
  const int64_t* strides;
};

// out = op(x); x and out share `shape`.
void unary_forward(UnaryOp op, DType dt, int ndim, const int64_t* shape, Operand x, Operand out,
                   double p0 = 0, double p1 = 0);
// out = op(a, b)
void binary_forward(BinaryOp op, DType dt, int ndim, const int64_t* shape, Operand a, Operand b,
                    Operand out);
// out = cond != 0 ? a : b   (cond of dtype cdt)
void where_forward(DType cdt, DType dt, int ndim, const int64_t* shape, Operand cond, Operand a,
                   Operand b, Operand out);
// out = (dst dtype) src, any layouts
void copy_cast(DType src_dt, DType dst_dt, int ndim, const int64_t* shape, Operand src, Operand dst);
void fill(DType dt, int ndim, const int64_t* shape, Operand dst, double value);

}  // namespace cadenza::kernels
