// batch_norm: fused kernels for the forward and the first-order backward
// (kernels/cpu/batch_norm); a backward run with create_graph is written in
// differentiable primitives instead, so every order of derivative works.
#include "engine/ops_util.h"
#include "engine/backend.h"
#include "kernels/cpu/batch_norm.h"

namespace cadenza {

using namespace detail;

namespace {

void check_per_channel(const Tensor& x, const Tensor& t, const char* what, int64_t C) {
  if (!t.defined()) return;
  check_same_dtype(x, t, "batch_norm");
  check_same_device(x, t, "batch_norm", "input", what);
  if (t.dim() != 1 || t.shape()[0] != C)
    throw Error(std::string("batch_norm: ") + what + " " + t.str() + " should be [" +
                std::to_string(C) + "] for input " + x.str());
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  check_defined(x, "batch_norm", "input");
  check_floating(x, "batch_norm");
  if (x.dim() < 2) throw Error("batch_norm: input must be [B, C, ...], got " + x.str());
  const int64_t C = x.shape()[1];
  check_per_channel(x, running_mean, "running_mean", C);
  check_per_channel(x, running_var, "running_var", C);
  check_per_channel(x, weight, "weight", C);
  check_per_channel(x, bias, "bias", C);
  if (running_mean.defined() != running_var.defined())
    throw Error("batch_norm: running_mean and running_var must both be given or both be undefined");
  // Statistics over every dim but the channels, kept as [1, C, 1, ...] to broadcast.
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  Shape stat(static_cast<size_t>(x.dim()), 1);
  stat[1] = C;
  const int64_t B = x.shape()[0], L = C > 0 && B > 0 ? x.numel() / (B * C) : 0;
  const int64_t n = B * L;
  if (training && n <= 1)
    throw Error("batch_norm: training needs more than one value per channel, got input " + x.str());
  if (!training && !running_mean.defined())
    throw Error("batch_norm: evaluation needs running_mean and running_var (input " + x.str() + ")");
  Tensor xc = contiguous(x.detach());
  Tensor wc = weight.defined() ? contiguous(weight.detach()) : Tensor();
  Tensor bc = bias.defined() ? contiguous(bias.detach()) : Tensor();
  Tensor mu, var;
  if (training) {
    mu = Tensor::empty({C}, x.dtype(), x.device());
    var = Tensor::empty({C}, x.dtype(), x.device());
    if (n > 0) CADENZA_KERNEL(batch_norm_stats, x.device(), x.dtype())(x.dtype(), B, C, L, xc.raw_data(), mu.raw_data(), var.raw_data());
    if (running_mean.defined()) {
      NoGradGuard ng;
      // The running variance is the unbiased one, as in PyTorch.
      const double unbias = static_cast<double>(n) / static_cast<double>(n - 1);
      Tensor rm = running_mean * (1 - momentum) + mu * momentum;
      Tensor rv = running_var * (1 - momentum) + var * (momentum * unbias);
      Tensor target_m = running_mean, target_v = running_var;
      target_m.copy_(rm);
      target_v.copy_(rv);
    }
  } else {
    mu = contiguous(running_mean.detach());
    var = contiguous(running_var.detach());
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() > 0)
    CADENZA_KERNEL(batch_norm_forward, x.device(), x.dtype())(x.dtype(), B, C, L, xc.raw_data(), mu.raw_data(), var.raw_data(), eps,
                                wc.defined() ? wc.raw_data() : nullptr, bc.defined() ? bc.raw_data() : nullptr,
                                y.raw_data());
  const bool gx = x.requires_grad(), gw = weight.defined() && weight.requires_grad(),
             gb = bias.defined() && bias.requires_grad();
  return record(y, "batch_norm", {x, weight, bias}, [=](const Tensor& g) {
    if (!training) {
      // An affine map of x with fixed statistics.
      Tensor invstd = rsqrt(reshape(var, stat) + eps);
      Tensor xhat = mul(sub(x, reshape(mu, stat)), invstd);
      Tensor scale = weight.defined() ? mul(invstd, reshape(weight, stat)) : invstd;
      return std::vector<Tensor>{gx ? mul(g, scale) : Tensor(), gw ? sum(mul(g, xhat), dims) : Tensor(),
                                 gb ? sum(g, dims) : Tensor()};
    }
    if (GradMode::enabled()) {
      // Differentiable again: the same rule from primitives, the statistics
      // recomputed from x so that their dependence on x is kept.
      const double nd = static_cast<double>(n);
      Tensor centred = sub(x, mean(x, dims, true));
      Tensor invstd = rsqrt(mean(mul(centred, centred), dims, true) + eps);
      Tensor xhat = mul(centred, invstd);
      Tensor sg = sum(g, dims, true), sgx = sum(mul(g, xhat), dims, true);
      Tensor dx;
      if (gx) {
        Tensor scale = weight.defined() ? mul(invstd, reshape(weight, stat)) : invstd;
        dx = mul(scale, sub(sub(g, sg * (1.0 / nd)), mul(xhat, sgx * (1.0 / nd))));
      }
      return std::vector<Tensor>{dx, gw ? reshape(sgx, {C}) : Tensor(), gb ? reshape(sg, {C}) : Tensor()};
    }
    Tensor gc = contiguous(g);
    Tensor dx = gx ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
    Tensor dw = gw ? Tensor::empty({C}, x.dtype(), x.device()) : Tensor();
    Tensor db = gb ? Tensor::empty({C}, x.dtype(), x.device()) : Tensor();
    if (n > 0)
      CADENZA_KERNEL(batch_norm_backward, x.device(), x.dtype())(x.dtype(), B, C, L, xc.raw_data(), gc.raw_data(), mu.raw_data(), var.raw_data(),
                                   eps, wc.defined() ? wc.raw_data() : nullptr, gx ? dx.raw_data() : nullptr,
                                   gw ? dw.raw_data() : nullptr, gb ? db.raw_data() : nullptr);
    return std::vector<Tensor>{dx, dw, db};
  });
}

}  // namespace cadenza
