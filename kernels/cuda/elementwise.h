#pragma once
// The elementwise kernels on CUDA, with kernels/cpu/elementwise.h's
// signatures (shape and strides are host arrays, copied into each launch;
// data pointers are device memory). They run on the device's default
// stream and return after the launch; the op math is
// kernels/elementwise_math.h, shared with the CPU tests. At most 8 dims.
#include "kernels/cpu/elementwise.h"

namespace cadenza::kernels::cuda {

void unary_forward(UnaryOp op, DType dt, int ndim, const int64_t* shape, Operand x, Operand out, double p0,
                   double p1);
void binary_forward(BinaryOp op, DType dt, int ndim, const int64_t* shape, Operand a, Operand b, Operand out);
void where_forward(DType cdt, DType dt, int ndim, const int64_t* shape, Operand cond, Operand a, Operand b,
                   Operand out);
void copy_cast(DType src_dt, DType dst_dt, int ndim, const int64_t* shape, Operand src, Operand dst);
void fill(DType dt, int ndim, const int64_t* shape, Operand dst, double value);

}  // namespace cadenza::kernels::cuda
