#include "kernels/cpu/elementwise.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "kernels/cpu/strided.h"
#include "kernels/elementwise_math.h"
#include "kernels/math.h"

namespace cadenza::kernels {
namespace {

template <class T, class F>
void map1(int ndim, const int64_t* shape, Operand x, Operand out, F f) {
  for_each_strided<2>(ndim, shape, {static_cast<char*>(out.data), static_cast<char*>(x.data)},
                      {out.strides, x.strides}, {sizeof(T), sizeof(T)},
                      [&](const std::array<char*, 2>& p, int64_t n, const std::array<int64_t, 2>& s) {
                        T* o = reinterpret_cast<T*>(p[0]);
                        const T* a = reinterpret_cast<const T*>(p[1]);
                        if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
                          for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
                        } else {
                          const int64_t so = s[0] / sizeof(T), sa = s[1] / sizeof(T);
                          for (int64_t i = 0; i < n; ++i) o[i * so] = f(a[i * sa]);
                        }
                      });
}

template <class T, class F>
void map2(int ndim, const int64_t* shape, Operand a, Operand b, Operand out, F f) {
  for_each_strided<3>(
      ndim, shape,
      {static_cast<char*>(out.data), static_cast<char*>(a.data), static_cast<char*>(b.data)},
      {out.strides, a.strides, b.strides}, {sizeof(T), sizeof(T), sizeof(T)},
      [&](const std::array<char*, 3>& p, int64_t n, const std::array<int64_t, 3>& s) {
        T* o = reinterpret_cast<T*>(p[0]);
        const T* x = reinterpret_cast<const T*>(p[1]);
        const T* y = reinterpret_cast<const T*>(p[2]);
        const int64_t so = s[0] / sizeof(T), sx = s[1] / sizeof(T), sy = s[2] / sizeof(T);
        if (so == 1 && sx == 1 && sy == 1) {
          for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
        } else if (so == 1 && sx == 1 && sy == 0) {
          const T c = y[0];
          for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], c);
        } else if (so == 1 && sx == 0 && sy == 1) {
          const T c = x[0];
          for (int64_t i = 0; i < n; ++i) o[i] = f(c, y[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * so] = f(x[i * sx], y[i * sy]);
        }
      });
}

template <class T>
void unary_typed(UnaryOp op, int nd, const int64_t* sh, Operand x, Operand o, double p0, double p1) {
  const T a0 = static_cast<T>(p0), a1 = static_cast<T>(p1);
  switch (op) {
    case UnaryOp::neg: return map1<T>(nd, sh, x, o, [](T v) { return -v; });
    case UnaryOp::abs: return map1<T>(nd, sh, x, o, [](T v) { return v < T(0) ? -v : v; });
    case UnaryOp::sign: return map1<T>(nd, sh, x, o, [](T v) { return kmath::sign(v); });
    case UnaryOp::relu: return map1<T>(nd, sh, x, o, [](T v) { return v > T(0) ? v : T(0); });
    case UnaryOp::positive: return map1<T>(nd, sh, x, o, [](T v) { return T(v > T(0)); });
    case UnaryOp::clamp:
      return map1<T>(nd, sh, x, o, [=](T v) { return v < a0 ? a0 : (v > a1 ? a1 : v); });
    case UnaryOp::in_range:
      return map1<T>(nd, sh, x, o, [=](T v) { return T(v >= a0 && v <= a1); });
    case UnaryOp::scalar_right:
    case UnaryOp::scalar_left:
      return map1<T>(nd, sh, x, o, [=](T v) { return kmath::unary_value<T>(op, v, p0, p1); });
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case UnaryOp::exp: return map1<T>(nd, sh, x, o, [](T v) { return std::exp(v); });
      case UnaryOp::log: return map1<T>(nd, sh, x, o, [](T v) { return std::log(v); });
      case UnaryOp::log1p: return map1<T>(nd, sh, x, o, [](T v) { return std::log1p(v); });
      case UnaryOp::sqrt: return map1<T>(nd, sh, x, o, [](T v) { return std::sqrt(v); });
      case UnaryOp::rsqrt: return map1<T>(nd, sh, x, o, [](T v) { return T(1) / std::sqrt(v); });
      case UnaryOp::tanh: return map1<T>(nd, sh, x, o, [](T v) { return std::tanh(v); });
      case UnaryOp::sin: return map1<T>(nd, sh, x, o, [](T v) { return std::sin(v); });
      case UnaryOp::cos: return map1<T>(nd, sh, x, o, [](T v) { return std::cos(v); });
      case UnaryOp::sigmoid: return map1<T>(nd, sh, x, o, [](T v) { return kmath::sigmoid(v); });
      case UnaryOp::leaky_relu:
        return map1<T>(nd, sh, x, o, [=](T v) { return v > T(0) ? v : v * a0; });
      case UnaryOp::leaky_grad:
        return map1<T>(nd, sh, x, o, [=](T v) { return v > T(0) ? T(1) : a0; });
      case UnaryOp::softplus:
        return map1<T>(nd, sh, x, o, [=](T v) { return kmath::softplus(v, a0, a1); });
      case UnaryOp::pow_scalar:
        if (p0 == 2.0) return map1<T>(nd, sh, x, o, [](T v) { return v * v; });
        return map1<T>(nd, sh, x, o, [=](T v) { return std::pow(v, a0); });
      case UnaryOp::isinf: return map1<T>(nd, sh, x, o, [](T v) { return T(std::isinf(v)); });
      default: break;
    }
  }
  throw std::invalid_argument("unary kernel: op not supported for integer dtypes");
}

template <class T>
void binary_typed(BinaryOp op, int nd, const int64_t* sh, Operand a, Operand b, Operand o) {
  switch (op) {
    case BinaryOp::add: return map2<T>(nd, sh, a, b, o, [](T x, T y) { return x + y; });
    case BinaryOp::sub: return map2<T>(nd, sh, a, b, o, [](T x, T y) { return x - y; });
    case BinaryOp::mul: return map2<T>(nd, sh, a, b, o, [](T x, T y) { return x * y; });
    case BinaryOp::div:
      if constexpr (std::is_integral_v<T>) {
        // Integer division by zero gives 0 rather than undefined behaviour.
        return map2<T>(nd, sh, a, b, o, [](T x, T y) { return y == 0 ? T(0) : T(x / y); });
      } else {
        return map2<T>(nd, sh, a, b, o, [](T x, T y) { return x / y; });
      }
    case BinaryOp::pow:
      return map2<T>(nd, sh, a, b, o, [](T x, T y) { return static_cast<T>(std::pow(x, y)); });
    case BinaryOp::maximum: return map2<T>(nd, sh, a, b, o, [](T x, T y) { return x >= y ? x : y; });
    case BinaryOp::minimum: return map2<T>(nd, sh, a, b, o, [](T x, T y) { return x <= y ? x : y; });
    case BinaryOp::eq: return map2<T>(nd, sh, a, b, o, [](T x, T y) { return T(x == y); });
    case BinaryOp::ne: return map2<T>(nd, sh, a, b, o, [](T x, T y) { return T(x != y); });
    case BinaryOp::lt: return map2<T>(nd, sh, a, b, o, [](T x, T y) { return T(x < y); });
    case BinaryOp::le: return map2<T>(nd, sh, a, b, o, [](T x, T y) { return T(x <= y); });
    case BinaryOp::gt: return map2<T>(nd, sh, a, b, o, [](T x, T y) { return T(x > y); });
    case BinaryOp::ge: return map2<T>(nd, sh, a, b, o, [](T x, T y) { return T(x >= y); });
  }
}

template <class S, class D>
void cast_typed(int nd, const int64_t* sh, Operand s, Operand d) {
  for_each_strided<2>(nd, sh, {static_cast<char*>(d.data), static_cast<char*>(s.data)},
                      {d.strides, s.strides}, {sizeof(D), sizeof(S)},
                      [](const std::array<char*, 2>& p, int64_t n, const std::array<int64_t, 2>& st) {
                        D* o = reinterpret_cast<D*>(p[0]);
                        const S* a = reinterpret_cast<const S*>(p[1]);
                        const int64_t so = st[0] / sizeof(D), sa = st[1] / sizeof(S);
                        for (int64_t i = 0; i < n; ++i) o[i * so] = static_cast<D>(a[i * sa]);
                      });
}

template <class S>
void cast_from(DType dd, int nd, const int64_t* sh, Operand s, Operand d) {
  switch (dd) {
    case DType::f32: return cast_typed<S, float>(nd, sh, s, d);
    case DType::f64: return cast_typed<S, double>(nd, sh, s, d);
    case DType::i32: return cast_typed<S, int32_t>(nd, sh, s, d);
    case DType::i64: return cast_typed<S, int64_t>(nd, sh, s, d);
  }
}

}  // namespace

void unary_forward(UnaryOp op, DType dt, int ndim, const int64_t* shape, Operand x, Operand out,
                   double p0, double p1) {
  switch (dt) {
    case DType::f32: return unary_typed<float>(op, ndim, shape, x, out, p0, p1);
    case DType::f64: return unary_typed<double>(op, ndim, shape, x, out, p0, p1);
    case DType::i32: return unary_typed<int32_t>(op, ndim, shape, x, out, p0, p1);
    case DType::i64: return unary_typed<int64_t>(op, ndim, shape, x, out, p0, p1);
  }
}

void binary_forward(BinaryOp op, DType dt, int ndim, const int64_t* shape, Operand a, Operand b,
                    Operand out) {
  switch (dt) {
    case DType::f32: return binary_typed<float>(op, ndim, shape, a, b, out);
    case DType::f64: return binary_typed<double>(op, ndim, shape, a, b, out);
    case DType::i32: return binary_typed<int32_t>(op, ndim, shape, a, b, out);
    case DType::i64: return binary_typed<int64_t>(op, ndim, shape, a, b, out);
  }
}

template <class C, class T>
static void where_typed(int nd, const int64_t* sh, Operand c, Operand a, Operand b, Operand o) {
  for_each_strided<4>(
      nd, sh,
      {static_cast<char*>(o.data), static_cast<char*>(c.data), static_cast<char*>(a.data),
       static_cast<char*>(b.data)},
      {o.strides, c.strides, a.strides, b.strides}, {sizeof(T), sizeof(C), sizeof(T), sizeof(T)},
      [](const std::array<char*, 4>& p, int64_t n, const std::array<int64_t, 4>& s) {
        T* out = reinterpret_cast<T*>(p[0]);
        const C* cc = reinterpret_cast<const C*>(p[1]);
        const T* x = reinterpret_cast<const T*>(p[2]);
        const T* y = reinterpret_cast<const T*>(p[3]);
        const int64_t so = s[0] / sizeof(T), sc = s[1] / sizeof(C), sx = s[2] / sizeof(T),
                      sy = s[3] / sizeof(T);
        for (int64_t i = 0; i < n; ++i) out[i * so] = cc[i * sc] != C(0) ? x[i * sx] : y[i * sy];
      });
}

template <class C>
static void where_c(DType dt, int nd, const int64_t* sh, Operand c, Operand a, Operand b, Operand o) {
  switch (dt) {
    case DType::f32: return where_typed<C, float>(nd, sh, c, a, b, o);
    case DType::f64: return where_typed<C, double>(nd, sh, c, a, b, o);
    case DType::i32: return where_typed<C, int32_t>(nd, sh, c, a, b, o);
    case DType::i64: return where_typed<C, int64_t>(nd, sh, c, a, b, o);
  }
}

void where_forward(DType cdt, DType dt, int ndim, const int64_t* shape, Operand cond, Operand a,
                   Operand b, Operand out) {
  switch (cdt) {
    case DType::f32: return where_c<float>(dt, ndim, shape, cond, a, b, out);
    case DType::f64: return where_c<double>(dt, ndim, shape, cond, a, b, out);
    case DType::i32: return where_c<int32_t>(dt, ndim, shape, cond, a, b, out);
    case DType::i64: return where_c<int64_t>(dt, ndim, shape, cond, a, b, out);
  }
}

void copy_cast(DType sdt, DType ddt, int ndim, const int64_t* shape, Operand src, Operand dst) {
  switch (sdt) {
    case DType::f32: return cast_from<float>(ddt, ndim, shape, src, dst);
    case DType::f64: return cast_from<double>(ddt, ndim, shape, src, dst);
    case DType::i32: return cast_from<int32_t>(ddt, ndim, shape, src, dst);
    case DType::i64: return cast_from<int64_t>(ddt, ndim, shape, src, dst);
  }
}

template <class T>
static void fill_typed(int nd, const int64_t* sh, Operand d, T v) {
  for_each_strided<1>(nd, sh, {static_cast<char*>(d.data)}, {d.strides}, {sizeof(T)},
                      [v](const std::array<char*, 1>& p, int64_t n, const std::array<int64_t, 1>& s) {
                        T* o = reinterpret_cast<T*>(p[0]);
                        const int64_t so = s[0] / sizeof(T);
                        for (int64_t i = 0; i < n; ++i) o[i * so] = v;
                      });
}

void fill(DType dt, int ndim, const int64_t* shape, Operand dst, double value) {
  switch (dt) {
    case DType::f32: return fill_typed<float>(ndim, shape, dst, static_cast<float>(value));
    case DType::f64: return fill_typed<double>(ndim, shape, dst, value);
    case DType::i32: return fill_typed<int32_t>(ndim, shape, dst, static_cast<int32_t>(value));
    case DType::i64: return fill_typed<int64_t>(ndim, shape, dst, static_cast<int64_t>(value));
  }
}

}  // namespace cadenza::kernels
