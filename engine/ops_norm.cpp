// batch_norm, composed of differentiable primitives (mean, sub, mul, rsqrt)
// so it has derivatives of every order without a backward of its own.
#include "engine/ops_util.h"

namespace cadenza {

using namespace detail;

namespace {

void check_per_channel(const Tensor& x, const Tensor& t, const char* what, int64_t C) {
  if (!t.defined()) return;
  check_same_dtype(x, t, "batch_norm");
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
  Tensor y;
  if (training) {
    const int64_t n = C > 0 ? x.numel() / C : 0;
    if (n <= 1)
      throw Error("batch_norm: training needs more than one value per channel, got input " +
                  x.str());
    Tensor mu = mean(x, dims, true);
    Tensor centred = sub(x, mu);
    Tensor v = mean(mul(centred, centred), dims, true);  // biased, as PyTorch normalises
    y = mul(centred, rsqrt(v + eps));
    if (running_mean.defined()) {
      NoGradGuard ng;
      // The running variance is the unbiased one, as in PyTorch.
      const double unbias = static_cast<double>(n) / static_cast<double>(n - 1);
      Tensor rm = running_mean * (1 - momentum) + reshape(mu.detach(), {C}) * momentum;
      Tensor rv = running_var * (1 - momentum) + reshape(v.detach(), {C}) * (momentum * unbias);
      Tensor target_m = running_mean, target_v = running_var;
      target_m.copy_(rm);
      target_v.copy_(rv);
    }
  } else {
    if (!running_mean.defined())
      throw Error("batch_norm: evaluation needs running_mean and running_var (input " + x.str() +
                  ")");
    y = mul(sub(x, reshape(running_mean, stat)), rsqrt(reshape(running_var, stat) + eps));
  }
  if (weight.defined()) y = mul(y, reshape(weight, stat));
  if (bias.defined()) y = add(y, reshape(bias, stat));
  return y;
}

}  // namespace cadenza
