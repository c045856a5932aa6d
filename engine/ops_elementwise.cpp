// Elementwise ops: broadcasting binary ops, unary math, activations.
#include <cmath>
#include "engine/backend.h"
#include <limits>

#include "engine/ops_util.h"

namespace cadenza {
namespace detail {

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t n = ndim == 0 ? 1 : ndim;
  if (d < -n || d >= n)
    throw Error(std::string(op) + ": dim " + std::to_string(d) + " is out of range for a " +
                std::to_string(ndim) + "-d tensor");
  return d < 0 ? d + n : d;
}

std::vector<int64_t> wrap_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  std::vector<bool> seen(std::max<int64_t>(ndim, 1), false);
  for (auto d : dims) {
    int64_t w = wrap_dim(d, ndim, op);
    if (seen[w]) throw Error(std::string(op) + ": dim " + std::to_string(d) + " given twice");
    seen[w] = true;
    out.push_back(w);
  }
  std::sort(out.begin(), out.end());
  if (ndim == 0) out.clear();
  return out;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) +
                  " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->offset = offset;
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = base.dtype();
  return Tensor(impl);
}

Tensor broadcast_view(const Tensor& x, const Shape& shape, const char* op) {
  if (x.shape() == shape) return x;
  size_t n = shape.size();
  if (x.dim() > static_cast<int64_t>(n))
    throw Error(std::string(op) + ": cannot broadcast " + x.str() + " to " + shape_str(shape));
  Shape st(n, 0);
  size_t lead = n - x.dim();
  for (size_t i = 0; i < static_cast<size_t>(x.dim()); ++i) {
    int64_t d = x.shape()[i];
    if (d == shape[lead + i])
      st[lead + i] = x.strides()[i];
    else if (d == 1)
      st[lead + i] = 0;
    else
      throw Error(std::string(op) + ": cannot broadcast " + x.str() + " to " + shape_str(shape));
  }
  return make_view(x, shape, st, x.offset());
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  if (a.dtype() != b.dtype())
    throw Error(std::string(op) + ": dtype mismatch between " + a.str() + " and " + b.str());
  if (a.device() != b.device())
    throw Error(std::string(op) + ": device mismatch between " + a.device().str() + " and " +
                b.device().str());
}

void check_floating(const Tensor& x, const char* op) {
  if (!is_floating(x.dtype()))
    throw Error(std::string(op) + ": expected a floating tensor (f32 or f64), got " + x.str());
}

void check_defined(const Tensor& x, const char* op, const char* what) {
  if (!x.defined()) throw Error(std::string(op) + ": " + what + " is an undefined tensor");
}

Tensor unary_raw(kernels::UnaryOp op, const Tensor& x, double p0, double p1) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  CADENZA_KERNEL(unary_forward, x.device(), x.dtype())(op, x.dtype(), static_cast<int>(x.dim()), x.shape().data(), operand(x),
                         operand(out), p0, p1);
  return out;
}

Tensor binary_raw(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  check_defined(a, name, "first operand");
  check_defined(b, name, "second operand");
  if (a.dtype() != b.dtype())  // the devices are on_one_device's to check: a 0-d CPU scalar may follow
    throw Error(std::string(name) + ": dtype mismatch between " + a.str() + " and " + b.str());
  // A 0-d CPU scalar beside a device operand goes to the kernel by value
  // (unary_forward's scalar_right / scalar_left): no device copy of it to
  // make first. (An i64 a double cannot hold goes through on_one_device's
  // copy.)
  if (a.device() != b.device()) {
    const bool right = b.dim() == 0 && b.device().kind == Device::cpu;
    const Tensor& s = right ? b : a;
    const Tensor& x = right ? a : b;
    if (s.dim() == 0 && s.device().kind == Device::cpu) {
      const double v = s.item();
      if (s.dtype() != DType::i64 || std::fabs(v) <= 9007199254740992.0)
        return unary_raw(right ? kernels::UnaryOp::scalar_right : kernels::UnaryOp::scalar_left, x, v,
                         static_cast<double>(static_cast<int>(op)));
    }
  }
  auto [da, db] = on_one_device(a, b, name);
  Shape s = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor ea = broadcast_view(da, s, name), eb = broadcast_view(db, s, name);
  Tensor out = Tensor::empty(s, a.dtype(), da.device());
  CADENZA_KERNEL(binary_forward, da.device(), a.dtype())(op, a.dtype(), static_cast<int>(s.size()), s.data(), operand(ea),
                          operand(eb), operand(out));
  return out;
}

Tensor scalar_like(double v, const Tensor& t) { return Tensor::full({}, v, t.dtype()); }
Tensor scalar_on(double v, const Tensor& t) { return Tensor::full({}, v, t.dtype(), t.device()); }

std::pair<Tensor, Tensor> on_one_device(const Tensor& a, const Tensor& b, const char* op) {
  if (a.device() == b.device()) return {a, b};
  // A 0-d CPU scalar goes with the other operand, as PyTorch has it; any
  // other mix is the caller's to resolve with to(Device).
  if (b.dim() == 0 && b.device().kind == Device::cpu) return {a, b.to(a.device())};
  if (a.dim() == 0 && a.device().kind == Device::cpu) return {a.to(b.device()), b};
  throw Error(std::string(op) + ": operands on " + a.device().str() + " and " + b.device().str() +
              "; move one with to(Device)");
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op, const char* a_name, const char* b_name) {
  if (b.defined() && a.device() != b.device())
    throw Error(std::string(op) + ": " + b_name + " is on " + b.device().str() + " and " + a_name + " on " +
                a.device().str() + "; move one with to(Device)");
}

Shape reduced_shape(const Shape& in, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t i = 0; i < static_cast<int64_t>(in.size()); ++i) {
    bool r = std::find(dims.begin(), dims.end(), i) != dims.end();
    if (!r)
      out.push_back(in[i]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

}  // namespace detail

using namespace detail;
using kernels::BinaryOp;
using kernels::UnaryOp;

// ------------------------------------------------------------------ binary

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::add, a, b, "add");
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "add", {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::sub, a, b, "sub");
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "sub", {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::mul, a, b, "mul");
  bool ga = a.defined() && a.requires_grad(), gb = b.defined() && b.requires_grad();
  return record(out, "mul", {a, b}, [a, b, ga, gb](const Tensor& g) {
    return std::vector<Tensor>{ga ? sum_to(mul(g, b), a.shape()) : Tensor(),
                               gb ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::div, a, b, "div");
  bool gb = b.requires_grad();
  return record(out, "div", {a, b}, [a, b, gb](const Tensor& g) {
    Tensor gx = div(g, b);
    return std::vector<Tensor>{sum_to(gx, a.shape()),
                               gb ? sum_to(neg(mul(gx, div(a, b))), b.shape()) : Tensor()};
  });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  check_floating(a, "pow");
  Tensor out = binary_raw(BinaryOp::pow, a, b, "pow");
  bool gb = b.requires_grad();
  return record(out, "pow", {a, b}, [a, b, gb](const Tensor& g) {
    Tensor ga = mul(g, mul(b, pow(a, sub(b, scalar_like(1, b)))));
    Tensor gbv = gb ? mul(g, mul(log(a), pow(a, b))) : Tensor();
    return std::vector<Tensor>{sum_to(ga, a.shape()), gb ? sum_to(gbv, b.shape()) : Tensor()};
  });
}

static Tensor extreme2(bool is_max, const Tensor& a, const Tensor& b) {
  const char* name = is_max ? "maximum" : "minimum";
  Tensor out = binary_raw(is_max ? BinaryOp::maximum : BinaryOp::minimum, a, b, name);
  return record(out, name, {a, b}, [a, b, is_max](const Tensor& g) {
    // Ties send the gradient to the first operand.
    Tensor pick_a = binary_raw(is_max ? BinaryOp::ge : BinaryOp::le, a.detach(), b.detach(), "mask");
    Tensor zero = scalar_on(0, g);
    return std::vector<Tensor>{sum_to(where(pick_a, g, zero), a.shape()),
                               sum_to(where(pick_a, zero, g), b.shape())};
  });
}
Tensor maximum(const Tensor& a, const Tensor& b) { return extreme2(true, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extreme2(false, a, b); }

Tensor eq(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::ne, a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::lt, a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::le, a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::gt, a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::ge, a, b, "ge"); }

// ------------------------------------------------------------------ unary

static Tensor unary_checked(UnaryOp op, const Tensor& x, const char* name, double p0 = 0,
                            double p1 = 0, bool need_float = true) {
  check_defined(x, name, "input");
  if (need_float) check_floating(x, name);
  return unary_raw(op, x, p0, p1);
}

Tensor neg(const Tensor& x) {
  Tensor y = unary_checked(UnaryOp::neg, x, "neg", 0, 0, false);
  return record(y, "neg", {x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

// Ops whose backward uses their own output keep a detached copy of it; when
// the backward pass is itself recorded (create_graph) they recompute it from
// the input so the second derivative flows through.
Tensor exp(const Tensor& x) {
  Tensor y = unary_checked(UnaryOp::exp, x, "exp");
  Tensor ys = y.detach();
  return record(y, "exp", {x}, [x, ys](const Tensor& g) {
    return std::vector<Tensor>{mul(g, GradMode::enabled() ? exp(x) : ys)};
  });
}

Tensor log(const Tensor& x) {
  Tensor y = unary_checked(UnaryOp::log, x, "log");
  return record(y, "log", {x}, [x](const Tensor& g) { return std::vector<Tensor>{div(g, x)}; });
}

Tensor log1p(const Tensor& x) {
  Tensor y = unary_checked(UnaryOp::log1p, x, "log1p");
  return record(y, "log1p", {x}, [x](const Tensor& g) {
    return std::vector<Tensor>{div(g, add(x, scalar_like(1, x)))};
  });
}

Tensor sqrt(const Tensor& x) {
  Tensor y = unary_checked(UnaryOp::sqrt, x, "sqrt");
  Tensor ys = y.detach();
  return record(y, "sqrt", {x}, [x, ys](const Tensor& g) {
    Tensor s = GradMode::enabled() ? sqrt(x) : ys;
    return std::vector<Tensor>{div(g, mul(s, scalar_like(2, s)))};
  });
}

Tensor rsqrt(const Tensor& x) {
  Tensor y = unary_checked(UnaryOp::rsqrt, x, "rsqrt");
  Tensor ys = y.detach();
  return record(y, "rsqrt", {x}, [x, ys](const Tensor& g) {
    Tensor r = GradMode::enabled() ? rsqrt(x) : ys;
    return std::vector<Tensor>{mul(g, mul(pow(r, 3.0), scalar_like(-0.5, r)))};
  });
}

Tensor pow(const Tensor& x, double p) {
  Tensor y = unary_checked(UnaryOp::pow_scalar, x, "pow", p);
  return record(y, "pow", {x}, [x, p](const Tensor& g) {
    if (p == 0) return std::vector<Tensor>{mul(g, scalar_like(0, g))};
    Tensor d = p == 1 ? scalar_like(1, x) : mul(pow(x, p - 1), scalar_like(p, x));
    return std::vector<Tensor>{mul(g, d)};
  });
}

Tensor abs(const Tensor& x) {
  Tensor y = unary_checked(UnaryOp::abs, x, "abs", 0, 0, false);
  return record(y, "abs", {x}, [x](const Tensor& g) {
    return std::vector<Tensor>{mul(g, unary_raw(UnaryOp::sign, x.detach()))};
  });
}

Tensor sign(const Tensor& x) { return unary_checked(UnaryOp::sign, x, "sign", 0, 0, false); }

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  double l = lo ? *lo : -std::numeric_limits<double>::infinity();
  double h = hi ? *hi : std::numeric_limits<double>::infinity();
  if (l > h) throw Error("clamp: min " + std::to_string(l) + " is greater than max " + std::to_string(h));
  Tensor y = unary_checked(UnaryOp::clamp, x, "clamp", l, h, false);
  return record(y, "clamp", {x}, [x, l, h](const Tensor& g) {
    return std::vector<Tensor>{mul(g, unary_raw(UnaryOp::in_range, x.detach(), l, h))};
  });
}

Tensor tanh(const Tensor& x) {
  Tensor y = unary_checked(UnaryOp::tanh, x, "tanh");
  Tensor ys = y.detach();
  return record(y, "tanh", {x}, [x, ys](const Tensor& g) {
    Tensor t = GradMode::enabled() ? tanh(x) : ys;
    return std::vector<Tensor>{mul(g, sub(scalar_like(1, t), mul(t, t)))};
  });
}

Tensor sin(const Tensor& x) {
  Tensor y = unary_checked(UnaryOp::sin, x, "sin");
  return record(y, "sin", {x}, [x](const Tensor& g) { return std::vector<Tensor>{mul(g, cos(x))}; });
}

Tensor cos(const Tensor& x) {
  Tensor y = unary_checked(UnaryOp::cos, x, "cos");
  return record(y, "cos", {x}, [x](const Tensor& g) { return std::vector<Tensor>{neg(mul(g, sin(x)))}; });
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = unary_checked(UnaryOp::sigmoid, x, "sigmoid");
  Tensor ys = y.detach();
  return record(y, "sigmoid", {x}, [x, ys](const Tensor& g) {
    Tensor s = GradMode::enabled() ? sigmoid(x) : ys;
    return std::vector<Tensor>{mul(g, mul(s, sub(scalar_like(1, s), s)))};
  });
}

Tensor relu(const Tensor& x) {
  Tensor y = unary_checked(UnaryOp::relu, x, "relu", 0, 0, false);
  return record(y, "relu", {x}, [x](const Tensor& g) {
    return std::vector<Tensor>{mul(g, unary_raw(UnaryOp::positive, x.detach()))};
  });
}

Tensor leaky_relu(const Tensor& x, double slope) {
  Tensor y = unary_checked(UnaryOp::leaky_relu, x, "leaky_relu", slope);
  return record(y, "leaky_relu", {x}, [x, slope](const Tensor& g) {
    return std::vector<Tensor>{mul(g, unary_raw(UnaryOp::leaky_grad, x.detach(), slope))};
  });
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  if (beta <= 0) throw Error("softplus: beta must be positive");
  Tensor y = unary_checked(UnaryOp::softplus, x, "softplus", beta, threshold);
  return record(y, "softplus", {x}, [x, beta, threshold](const Tensor& g) {
    Tensor bx = mul(x, scalar_like(beta, x));
    Tensor linear = gt(bx.detach(), scalar_like(threshold, x));
    return std::vector<Tensor>{mul(g, where(linear, scalar_on(1, x), sigmoid(bx)))};
  });
}

Tensor isinf_mask(const Tensor& x) { return unary_checked(UnaryOp::isinf, x, "isinf"); }

// ------------------------------------------------------------------ operators

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double s) { return add(a, scalar_like(s, a)); }
Tensor operator-(const Tensor& a, double s) { return sub(a, scalar_like(s, a)); }
Tensor operator*(const Tensor& a, double s) { return mul(a, scalar_like(s, a)); }
Tensor operator/(const Tensor& a, double s) { return div(a, scalar_like(s, a)); }
Tensor operator+(double s, const Tensor& a) { return add(scalar_like(s, a), a); }
Tensor operator-(double s, const Tensor& a) { return sub(scalar_like(s, a), a); }
Tensor operator*(double s, const Tensor& a) { return mul(scalar_like(s, a), a); }
Tensor operator/(double s, const Tensor& a) { return div(scalar_like(s, a), a); }

}  // namespace cadenza
