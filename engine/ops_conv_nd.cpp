// conv2d / conv3d and their transposes, on one N-d implementation made of
// three ops that differentiate into each other (as conv1d's do), so every
// order of derivative exists: a WGAN-GP critic's gradient penalty
// differentiates the critic twice.
//   forward(x, w):             dx = input_grad(g, w),   dw = weight_grad(g, x)
//   input_grad(g, w) -> dx:    dg = forward(h, w),      dw = weight_grad(g, h)
//   weight_grad(g, x) -> dw:   dg = forward(x, h),      dx = input_grad(g, h)
// conv_transpose is input_grad with the output size from output_padding, plus
// a bias added in place (its gradient is the same sum as the convolution's).
#include <numeric>
#include "engine/backend.h"

#include "engine/ops_util.h"
#include "kernels/cpu/conv_nd.h"

namespace cadenza {

using namespace detail;

namespace {

using Sizes = std::vector<int64_t>;

// Stride, padding and dilation of an N-d convolution (N = 1, 2, 3).
struct Geometry {
  int nd;
  Sizes stride, padding, dilation;
};

std::string list_str(const Sizes& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + ")";
}

const char* layout_of(int nd, bool weight, bool transposed) {
  static const char* inputs[] = {"[B, C, T]", "[B, C, H, W]", "[B, C, D, H, W]"};
  static const char* weights[] = {"[Cout, Cin, kT]", "[Cout, Cin, kH, kW]",
                                  "[Cout, Cin, kD, kH, kW]"};
  static const char* tweights[] = {"[Cin, Cout, kT]", "[Cin, Cout, kH, kW]",
                                   "[Cin, Cout, kD, kH, kW]"};
  return !weight ? inputs[nd - 1] : transposed ? tweights[nd - 1] : weights[nd - 1];
}

void check_rank(const Tensor& t, int nd, const std::string& op, const char* what,
                const char* layout) {
  check_defined(t, op.c_str(), what);
  check_floating(t, op.c_str());
  if (t.dim() != nd + 2) throw Error(op + ": " + what + " must be " + layout + ", got " + t.str());
}

void check_list(const std::string& op, const char* name, const Sizes& v, int nd, int64_t min) {
  if (static_cast<int>(v.size()) != nd)
    throw Error(op + ": " + name + " must have " + std::to_string(nd) + " values, got " +
                std::to_string(v.size()) + " " + list_str(v));
  for (int64_t e : v)
    if (e < min)
      throw Error(op + ": " + name + " must be >= " + std::to_string(min) + " in every dim, got " +
                  list_str(v));
}

Geometry geometry(const std::string& op, int nd, const Sizes& stride, const Sizes& padding,
                  const Sizes& dilation) {
  check_list(op, "stride", stride, nd, 1);
  check_list(op, "padding", padding, nd, 0);
  check_list(op, "dilation", dilation, nd, 1);
  return Geometry{nd, stride, padding, dilation};
}

Sizes spatial(const Tensor& t) {
  return Sizes(t.shape().begin() + 2, t.shape().end());
}

// The kernel's 3-D view of the problem: leading spatial dims of size 1.
kernels::ConvNdShape kernel_shape(int64_t B, int64_t Cin, int64_t Cout, const Sizes& in,
                                  const Sizes& out, const Sizes& k, const Geometry& geo) {
  kernels::ConvNdShape s{};
  s.B = B;
  s.Cin = Cin;
  s.Cout = Cout;
  const int lead = 3 - geo.nd;
  for (int d = 0; d < 3; ++d) {
    const bool real = d >= lead;
    const int i = d - lead;
    s.in[d] = real ? in[i] : 1;
    s.out[d] = real ? out[i] : 1;
    s.k[d] = real ? k[i] : 1;
    s.stride[d] = real ? geo.stride[i] : 1;
    s.pad[d] = real ? geo.padding[i] : 0;
    s.dilation[d] = real ? geo.dilation[i] : 1;
  }
  return s;
}

Shape with_channels(int64_t B, int64_t C, const Sizes& sp) {
  Shape s{B, C};
  s.insert(s.end(), sp.begin(), sp.end());
  return s;
}

// db = sum of g over batch and space: [B, C, ...] -> [C].
Tensor bias_grad(const Tensor& g, int nd) {
  std::vector<int64_t> dims{0};
  for (int d = 0; d < nd; ++d) dims.push_back(2 + d);
  if (GradMode::enabled()) return sum(g, dims);  // differentiable again
  Tensor gc = contiguous(g);
  const Sizes sp = spatial(g);
  Tensor db = Tensor::empty({g.shape()[1]}, g.dtype(), g.device());
  Geometry geo{nd, Sizes(nd, 1), Sizes(nd, 0), Sizes(nd, 1)};
  auto s = kernel_shape(g.shape()[0], 0, g.shape()[1], sp, sp, Sizes(nd, 1), geo);
  if (db.numel() > 0) CADENZA_KERNEL(conv_nd_backward_bias, g.device(), g.dtype())(g.dtype(), s, gc.raw_data(), db.raw_data());
  return db;
}

// y[b, c, ...] += bias[c] in place: y contiguous [B, C, ...], bias contiguous [C].
template <class T>
void add_channel_bias_typed(T* y, const T* bias, int64_t B, int64_t C, int64_t L) {
#pragma omp parallel for schedule(static) if (B * C * L > 65536)
  for (int64_t r = 0; r < B * C; ++r) {
    const T v = bias[r % C];
    T* row = y + r * L;
    for (int64_t i = 0; i < L; ++i) row[i] += v;
  }
}

// On a device: y + bias broadcast over [1, C, 1...] (a new tensor).
void add_channel_bias(Tensor& y, const Tensor& bias) {
  const int64_t B = y.shape()[0], C = y.shape()[1], L = C > 0 && B > 0 ? y.numel() / (B * C) : 0;
  if (y.device() != Device{}) {
    Shape stat(static_cast<size_t>(y.dim()), 1);
    stat[1] = C;
    y = add(y, reshape(bias, stat));
    return;
  }
  if (y.dtype() == DType::f32)
    add_channel_bias_typed(y.data<float>(), bias.data<float>(), B, C, L);
  else
    add_channel_bias_typed(y.data<double>(), bias.data<double>(), B, C, L);
}

Tensor conv_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Sizes& out,
                    const Geometry& geo);
Tensor conv_input_grad(const Tensor& g, const Tensor& w, const Tensor& bias, const Sizes& in,
                       const Geometry& geo);
Tensor conv_weight_grad(const Tensor& g, const Tensor& x, const Sizes& k, const Geometry& geo);

// y = conv(x, w) + bias at the given output size. x: [B, Cin, in...], w: [Cout, Cin, k...],
// bias: [Cout] or undefined -> [B, Cout, out...].
Tensor conv_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Sizes& out,
                    const Geometry& geo) {
  const int64_t B = x.shape()[0], Cin = x.shape()[1], Cout = w.shape()[0];
  const Sizes in = spatial(x), k = spatial(w);
  Tensor xc = contiguous(x.detach()), wc = contiguous(w.detach());
  Tensor bc = bias.defined() ? contiguous(bias.detach()) : Tensor();
  Tensor y = Tensor::empty(with_channels(B, Cout, out), x.dtype(), x.device());
  if (y.numel() > 0) {
    if (xc.numel() == 0 || wc.numel() == 0) {
      y.fill_(0);
      if (bc.defined()) add_channel_bias(y, bc);
    } else {
      auto s = kernel_shape(B, Cin, Cout, in, out, k, geo);
      CADENZA_KERNEL(conv_nd_forward, x.device(), x.dtype())(x.dtype(), s, xc.raw_data(), wc.raw_data(),
                               bc.defined() ? bc.raw_data() : nullptr, y.raw_data());
    }
  }
  bool gx = x.requires_grad(), gw = w.requires_grad(), gb = bias.defined() && bias.requires_grad();
  const int nd = geo.nd;
  return record(y, "conv_nd", {x, w, bias}, [=](const Tensor& g) {
    return std::vector<Tensor>{gx ? conv_input_grad(g, w, Tensor(), in, geo) : Tensor(),
                               gw ? conv_weight_grad(g, x, k, geo) : Tensor(),
                               gb ? bias_grad(g, nd) : Tensor()};
  });
}

// dx: the transposed convolution of g [B, Cout, out...] by w [Cout, Cin, k...], plus bias
// [Cin] or undefined (conv_transpose's) -> [B, Cin, in...].
Tensor conv_input_grad(const Tensor& g, const Tensor& w, const Tensor& bias, const Sizes& in,
                       const Geometry& geo) {
  const int64_t B = g.shape()[0], Cout = g.shape()[1], Cin = w.shape()[1];
  const Sizes out = spatial(g), k = spatial(w);
  Tensor gc = contiguous(g.detach()), wc = contiguous(w.detach());
  Tensor dx = Tensor::empty(with_channels(B, Cin, in), g.dtype(), g.device());
  if (dx.numel() > 0) {
    if (gc.numel() == 0 || wc.numel() == 0) {
      dx.fill_(0);
    } else {
      auto s = kernel_shape(B, Cin, Cout, in, out, k, geo);
      CADENZA_KERNEL(conv_nd_backward_input, g.device(), g.dtype())(g.dtype(), s, gc.raw_data(), wc.raw_data(), dx.raw_data());
    }
    if (bias.defined()) add_channel_bias(dx, contiguous(bias.detach()));
  }
  // Linear in g and in w.
  bool gg = g.requires_grad(), gw = w.requires_grad(), gb = bias.defined() && bias.requires_grad();
  const int nd = geo.nd;
  return record(dx, "conv_nd_backward_input", {g, w, bias}, [=](const Tensor& h) {
    return std::vector<Tensor>{gg ? conv_forward(h, w, Tensor(), out, geo) : Tensor(),
                               gw ? conv_weight_grad(g, h, k, geo) : Tensor(),
                               gb ? bias_grad(h, nd) : Tensor()};
  });
}

// dw = sum over batch and space of g [B, Cout, out...] times x's windows -> [Cout, Cin, k...].
Tensor conv_weight_grad(const Tensor& g, const Tensor& x, const Sizes& k, const Geometry& geo) {
  const int64_t B = g.shape()[0], Cout = g.shape()[1], Cin = x.shape()[1];
  const Sizes out = spatial(g), in = spatial(x);
  Tensor gc = contiguous(g.detach()), xc = contiguous(x.detach());
  Tensor dw = Tensor::empty(with_channels(Cout, Cin, k), g.dtype(), g.device());
  if (dw.numel() > 0) {
    if (gc.numel() == 0 || xc.numel() == 0) {
      dw.fill_(0);
    } else {
      auto s = kernel_shape(B, Cin, Cout, in, out, k, geo);
      CADENZA_KERNEL(conv_nd_backward_weight, g.device(), g.dtype())(g.dtype(), s, gc.raw_data(), xc.raw_data(), dw.raw_data());
    }
  }
  bool gg = g.requires_grad(), gx = x.requires_grad();
  return record(dw, "conv_nd_backward_weight", {g, x}, [=](const Tensor& h) {
    return std::vector<Tensor>{gg ? conv_forward(x, h, Tensor(), out, geo) : Tensor(),
                               gx ? conv_input_grad(g, h, Tensor(), in, geo) : Tensor()};
  });
}

void check_bias(const std::string& op, const Tensor& x, const Tensor& bias, int64_t C) {
  if (!bias.defined()) return;
  check_same_dtype(x, bias, op.c_str());
  if (bias.dim() != 1 || bias.shape()[0] != C)
    throw Error(op + ": bias " + bias.str() + " should be [" + std::to_string(C) + "]");
}

Tensor conv_nd(int nd, const Tensor& x, const Tensor& weight, const Tensor& bias,
               const Sizes& stride, const Sizes& padding, const Sizes& dilation) {
  const std::string op = "conv" + std::to_string(nd) + "d";
  check_rank(x, nd, op, "input", layout_of(nd, false, false));
  check_rank(weight, nd, op, "weight", layout_of(nd, true, false));
  check_same_dtype(x, weight, op.c_str());
  Geometry geo = geometry(op, nd, stride, padding, dilation);
  const int64_t Cin = x.shape()[1], Cout = weight.shape()[0];
  if (weight.shape()[1] != Cin)
    throw Error(op + ": weight " + weight.str() + " does not fit input " + x.str() +
                " (weight must be [Cout, " + std::to_string(Cin) + ", kernel...])");
  const Sizes in = spatial(x), k = spatial(weight);
  Sizes out(nd);
  for (int d = 0; d < nd; ++d) {
    if (k[d] < 1) throw Error(op + ": weight " + weight.str() + " has an empty kernel");
    const int64_t span = geo.dilation[d] * (k[d] - 1) + 1, padded = in[d] + 2 * geo.padding[d];
    if (padded < span)
      throw Error(op + ": input " + x.str() + " is too small for kernel " + list_str(k) +
                  " at dilation " + list_str(geo.dilation) + " with padding " +
                  list_str(geo.padding) + " (padded size " + std::to_string(padded) +
                  " < kernel span " + std::to_string(span) + " in spatial dim " +
                  std::to_string(d) + ")");
    out[d] = (padded - span) / geo.stride[d] + 1;
  }
  check_bias(op, x, bias, Cout);
  return conv_forward(x, weight, bias, out, geo);
}

Tensor conv_transpose_nd(int nd, const Tensor& x, const Tensor& weight, const Tensor& bias,
                         const Sizes& stride, const Sizes& padding, const Sizes& output_padding,
                         const Sizes& dilation) {
  const std::string op = "conv_transpose" + std::to_string(nd) + "d";
  check_rank(x, nd, op, "input", layout_of(nd, false, true));
  check_rank(weight, nd, op, "weight", layout_of(nd, true, true));
  check_same_dtype(x, weight, op.c_str());
  Geometry geo = geometry(op, nd, stride, padding, dilation);
  check_list(op, "output_padding", output_padding, nd, 0);
  const int64_t Cin = x.shape()[1], Cout = weight.shape()[1];
  if (weight.shape()[0] != Cin)
    throw Error(op + ": weight " + weight.str() + " does not fit input " + x.str() +
                " (weight must be [" + std::to_string(Cin) + ", Cout, kernel...])");
  const Sizes in = spatial(x), k = spatial(weight);
  Sizes out(nd);
  for (int d = 0; d < nd; ++d) {
    if (k[d] < 1) throw Error(op + ": weight " + weight.str() + " has an empty kernel");
    // PyTorch's rule: output_padding adds positions the last window does not reach.
    if (output_padding[d] >= geo.stride[d] && output_padding[d] >= geo.dilation[d])
      throw Error(op + ": output_padding " + list_str(output_padding) +
                  " must be smaller than either stride " + list_str(geo.stride) + " or dilation " +
                  list_str(geo.dilation) + " (spatial dim " + std::to_string(d) + ")");
    out[d] = (in[d] - 1) * geo.stride[d] - 2 * geo.padding[d] + geo.dilation[d] * (k[d] - 1) +
             output_padding[d] + 1;
    if (out[d] < 1)
      throw Error(op + ": input " + x.str() + " with kernel " + list_str(k) + ", stride " +
                  list_str(geo.stride) + " and padding " + list_str(geo.padding) +
                  " gives an empty output (size " + std::to_string(out[d]) + " in spatial dim " +
                  std::to_string(d) + ")");
  }
  check_bias(op, x, bias, Cout);
  return conv_input_grad(x, weight, bias, out, geo);
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
              const std::vector<int64_t>& dilation) {
  return conv_nd(2, x, weight, bias, stride, padding, dilation);
}

Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
              const std::vector<int64_t>& dilation) {
  return conv_nd(3, x, weight, bias, stride, padding, dilation);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                        const std::vector<int64_t>& output_padding,
                        const std::vector<int64_t>& dilation) {
  return conv_transpose_nd(2, x, weight, bias, stride, padding, output_padding, dilation);
}

Tensor conv_transpose3d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                        const std::vector<int64_t>& output_padding,
                        const std::vector<int64_t>& dilation) {
  return conv_transpose_nd(3, x, weight, bias, stride, padding, output_padding, dilation);
}

}  // namespace cadenza
