#pragma once
// The value of each elementwise op on one element, shared by the CUDA
// elementwise kernels and checked on the CPU against kernels/cpu/elementwise
// (tests/engine/test_backend.cpp), so the formulas a GPU runs are the CPU's.
#include <cmath>
#include <type_traits>

#include "kernels/cpu/elementwise.h"
#include "kernels/math.h"

namespace cadenza::kmath {

// op(v) with p0, p1 as unary_forward takes them. Integer types take the ops
// that make sense for them (the others give 0; the front ends refuse them).
template <class T>
CADENZA_HD T binary_value(kernels::BinaryOp op, T x, T y);

template <class T>
CADENZA_HD T unary_value(kernels::UnaryOp op, T v, double p0, double p1) {
  using U = kernels::UnaryOp;
  const T a0 = static_cast<T>(p0), a1 = static_cast<T>(p1);
  switch (op) {
    case U::scalar_right: return binary_value<T>(static_cast<kernels::BinaryOp>(static_cast<int>(p1)), v, a0);
    case U::scalar_left: return binary_value<T>(static_cast<kernels::BinaryOp>(static_cast<int>(p1)), a0, v);
    case U::neg: return -v;
    case U::abs: return v < T(0) ? -v : v;
    case U::sign: return sign(v);
    case U::relu: return v > T(0) ? v : T(0);
    case U::positive: return T(v > T(0));
    case U::clamp: return v < a0 ? a0 : (v > a1 ? a1 : v);
    case U::in_range: return T(v >= a0 && v <= a1);
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case U::exp: return std::exp(v);
      case U::log: return std::log(v);
      case U::log1p: return std::log1p(v);
      case U::sqrt: return std::sqrt(v);
      case U::rsqrt: return T(1) / std::sqrt(v);
      case U::tanh: return std::tanh(v);
      case U::sin: return std::sin(v);
      case U::cos: return std::cos(v);
      case U::sigmoid: return sigmoid(v);
      case U::leaky_relu: return v > T(0) ? v : v * a0;
      case U::leaky_grad: return v > T(0) ? T(1) : a0;
      case U::softplus: return softplus(v, a0, a1);
      case U::pow_scalar: return p0 == 2.0 ? v * v : std::pow(v, a0);
      case U::isinf: return T(std::isinf(v));
      default: break;
    }
  }
  return T(0);
}

template <class T>
CADENZA_HD T binary_value(kernels::BinaryOp op, T x, T y) {
  using B = kernels::BinaryOp;
  switch (op) {
    case B::add: return x + y;
    case B::sub: return x - y;
    case B::mul: return x * y;
    case B::div:
      if constexpr (std::is_integral_v<T>) {
        return y == 0 ? T(0) : T(x / y);  // as the CPU kernel: 0, not undefined behaviour
      } else {
        return x / y;
      }
    case B::pow: return static_cast<T>(std::pow(x, y));
    case B::maximum: return x >= y ? x : y;
    case B::minimum: return x <= y ? x : y;
    case B::eq: return T(x == y);
    case B::ne: return T(x != y);
    case B::lt: return T(x < y);
    case B::le: return T(x <= y);
    case B::gt: return T(x > y);
    case B::ge: return T(x >= y);
  }
  return T(0);
}

}  // namespace cadenza::kmath
