// conv1d (dilated, stride 1) and WaveNet's gated activation.
#include "engine/ops_util.h"
#include "engine/backend.h"
#include "kernels/cpu/conv1d.h"
#include "kernels/cpu/gated_activation.h"

namespace cadenza {

using namespace detail;

namespace {

void check_conv_args(const char* op, int64_t dilation, int64_t pad_left) {
  if (dilation < 1) throw Error(std::string(op) + ": dilation must be >= 1, got " + std::to_string(dilation));
  if (pad_left < 0) throw Error(std::string(op) + ": padding must be >= 0, got " + std::to_string(pad_left));
}

void check_3d(const Tensor& t, const char* op, const char* what, const char* layout) {
  check_defined(t, op, what);
  check_floating(t, op);
  if (t.dim() != 3) throw Error(std::string(op) + ": " + what + " must be " + layout + ", got " + t.str());
}

// db = sum over batch and time of g: [B, Cout, To] -> [Cout].
Tensor conv1d_bias_grad(const Tensor& g) {
  if (GradMode::enabled()) return sum(g, {0, 2});  // differentiable again
  Tensor gc = contiguous(g);
  const int64_t B = g.shape()[0], Cout = g.shape()[1], To = g.shape()[2];
  Tensor db = Tensor::empty({Cout}, g.dtype(), g.device());
  kernels::Conv1dShape s{B, 0, 0, Cout, 1, 1, 0, To};
  if (Cout > 0) CADENZA_KERNEL(conv1d_backward_bias, g.device(), g.dtype())(g.dtype(), s, gc.raw_data(), db.raw_data());
  return db;
}

}  // namespace

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t dilation, int64_t pad_left,
              int64_t pad_right) {
  check_3d(x, "conv1d", "input", "[B, Cin, T]");
  check_3d(weight, "conv1d", "weight", "[Cout, Cin, K]");
  check_same_dtype(x, weight, "conv1d");
  check_same_device(x, weight, "conv1d", "input", "weight");
  check_same_device(x, bias, "conv1d", "input", "bias");
  check_conv_args("conv1d", dilation, pad_left);
  if (pad_right < 0) throw Error("conv1d: padding must be >= 0, got " + std::to_string(pad_right));
  const int64_t B = x.shape()[0], Cin = x.shape()[1], T = x.shape()[2];
  const int64_t Cout = weight.shape()[0], K = weight.shape()[2];
  if (weight.shape()[1] != Cin || K < 1)
    throw Error("conv1d: weight " + weight.str() + " does not fit input " + x.str() + " (weight must be [Cout, " +
                std::to_string(Cin) + ", K >= 1])");
  const int64_t To = T + pad_left + pad_right - dilation * (K - 1);
  if (To < 1)
    throw Error("conv1d: input " + x.str() + " is too short for kernel " + std::to_string(K) + " at dilation " +
                std::to_string(dilation) + " with padding " + std::to_string(pad_left) + "+" +
                std::to_string(pad_right) + " (output length " + std::to_string(To) + ")");
  if (bias.defined()) {
    check_same_dtype(x, bias, "conv1d");
    if (bias.dim() != 1 || bias.shape()[0] != Cout)
      throw Error("conv1d: bias " + bias.str() + " should be [" + std::to_string(Cout) + "]");
  }
  Tensor xc = contiguous(x.detach()), wc = contiguous(weight.detach());
  Tensor bc = bias.defined() ? contiguous(bias.detach()) : Tensor();
  Tensor y = Tensor::empty({B, Cout, To}, x.dtype(), x.device());
  kernels::Conv1dShape s{B, Cin, T, Cout, K, dilation, pad_left, To};
  if (B > 0 && Cout > 0)
    CADENZA_KERNEL(conv1d_forward, x.device(), x.dtype())(x.dtype(), s, xc.raw_data(), wc.raw_data(), bc.defined() ? bc.raw_data() : nullptr,
                            y.raw_data());
  bool gx = x.requires_grad(), gw = weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
  return record(y, "conv1d", {x, weight, bias}, [=](const Tensor& g) {
    // g laid out once for the three gradients: WaveNet's logits' gradient
    // arrives transposed from cross_entropy's rows, and each would copy it.
    const Tensor gc = contiguous(g);
    return std::vector<Tensor>{gx ? conv1d_backward_input(gc, weight, T, dilation, pad_left) : Tensor(),
                               gw ? conv1d_backward_weight(gc, x, K, dilation, pad_left) : Tensor(),
                               gb ? conv1d_bias_grad(gc) : Tensor()};
  });
}

Tensor conv1d_backward_input(const Tensor& g, const Tensor& weight, int64_t T, int64_t dilation, int64_t pad_left) {
  check_3d(g, "conv1d_backward_input", "gradient", "[B, Cout, To]");
  check_3d(weight, "conv1d_backward_input", "weight", "[Cout, Cin, K]");
  check_same_dtype(g, weight, "conv1d_backward_input");
  check_same_device(g, weight, "conv1d_backward_input", "gradient", "weight");
  check_conv_args("conv1d_backward_input", dilation, pad_left);
  const int64_t B = g.shape()[0], Cout = g.shape()[1], To = g.shape()[2];
  const int64_t Cin = weight.shape()[1], K = weight.shape()[2];
  if (weight.shape()[0] != Cout || T < 1)
    throw Error("conv1d_backward_input: gradient " + g.str() + " does not fit weight " + weight.str());
  Tensor gc = contiguous(g.detach()), wc = contiguous(weight.detach());
  Tensor dx = Tensor::empty({B, Cin, T}, g.dtype(), g.device());
  kernels::Conv1dShape s{B, Cin, T, Cout, K, dilation, pad_left, To};
  if (dx.numel() > 0) CADENZA_KERNEL(conv1d_backward_input, g.device(), g.dtype())(g.dtype(), s, gc.raw_data(), wc.raw_data(), dx.raw_data());
  // Linear in g and in weight: conv1d gives g's gradient, the weight
  // gradient gives weight's.
  const int64_t pad_right = To - T - pad_left + dilation * (K - 1);
  bool gg = g.requires_grad(), gw = weight.requires_grad();
  return record(dx, "conv1d_backward_input", {g, weight}, [=](const Tensor& h) {
    return std::vector<Tensor>{gg ? conv1d(h, weight, Tensor(), dilation, pad_left, pad_right) : Tensor(),
                               gw ? conv1d_backward_weight(g, h, K, dilation, pad_left) : Tensor()};
  });
}

Tensor conv1d_backward_weight(const Tensor& g, const Tensor& x, int64_t kernel_size, int64_t dilation,
                              int64_t pad_left) {
  check_3d(g, "conv1d_backward_weight", "gradient", "[B, Cout, To]");
  check_3d(x, "conv1d_backward_weight", "input", "[B, Cin, T]");
  check_same_dtype(g, x, "conv1d_backward_weight");
  check_same_device(g, x, "conv1d_backward_weight", "gradient", "input");
  check_conv_args("conv1d_backward_weight", dilation, pad_left);
  const int64_t B = g.shape()[0], Cout = g.shape()[1], To = g.shape()[2];
  const int64_t Cin = x.shape()[1], T = x.shape()[2], K = kernel_size;
  if (x.shape()[0] != B || K < 1)
    throw Error("conv1d_backward_weight: gradient " + g.str() + " does not fit input " + x.str());
  Tensor gc = contiguous(g.detach()), xc = contiguous(x.detach());
  Tensor dw = Tensor::zeros({Cout, Cin, K}, g.dtype(), g.device());
  kernels::Conv1dShape s{B, Cin, T, Cout, K, dilation, pad_left, To};
  if (dw.numel() > 0) CADENZA_KERNEL(conv1d_backward_weight, g.device(), g.dtype())(g.dtype(), s, gc.raw_data(), xc.raw_data(), dw.raw_data());
  const int64_t pad_right = To - T - pad_left + dilation * (K - 1);
  bool gg = g.requires_grad(), gx = x.requires_grad();
  return record(dw, "conv1d_backward_weight", {g, x}, [=](const Tensor& h) {
    return std::vector<Tensor>{gg ? conv1d(x, h, Tensor(), dilation, pad_left, pad_right) : Tensor(),
                               gx ? conv1d_backward_input(g, h, T, dilation, pad_left) : Tensor()};
  });
}

Tensor gated_activation(const Tensor& x) {
  check_3d(x, "gated_activation", "input", "[B, 2C, T]");
  if (x.shape()[1] % 2 != 0)
    throw Error("gated_activation: input " + x.str() + " must have an even number of channels (2C)");
  const int64_t B = x.shape()[0], C = x.shape()[1] / 2, T = x.shape()[2];
  Tensor xc = contiguous(x.detach());
  Tensor y = Tensor::empty({B, C, T}, x.dtype(), x.device());
  if (y.numel() > 0) CADENZA_KERNEL(gated_activation_forward, x.device(), x.dtype())(x.dtype(), B, C, T, xc.raw_data(), y.raw_data());
  return record(y, "gated_activation", {x}, [x, xc, B, C, T](const Tensor& g) {
    if (GradMode::enabled()) {
      // Differentiable again: the same rule from primitives.
      Tensor a = narrow(x, 1, 0, C), b = narrow(x, 1, C, C);
      Tensor ta = tanh(a), sb = sigmoid(b);
      Tensor da = mul(mul(g, sb), sub(scalar_like(1.0, ta), mul(ta, ta)));
      Tensor db = mul(mul(g, ta), mul(sb, sub(scalar_like(1.0, sb), sb)));
      return std::vector<Tensor>{concat({da, db}, 1)};
    }
    Tensor gc = contiguous(g);
    Tensor dx = Tensor::empty({B, 2 * C, T}, x.dtype(), x.device());
    if (dx.numel() > 0)
      CADENZA_KERNEL(gated_activation_backward, x.device(), x.dtype())(x.dtype(), B, C, T, xc.raw_data(), gc.raw_data(), dx.raw_data());
    return std::vector<Tensor>{dx};
  });
}

}  // namespace cadenza
