// softmax / log_softmax, losses and dropout.
#include <cmath>
#include <limits>

#include "engine/backend.h"
#include "engine/ops_util.h"
#include "engine/random.h"
#include "kernels/cpu/softmax.h"

namespace cadenza {

using namespace detail;

static Tensor softmax_raw(const Tensor& x, int64_t d, bool log) {
  // Rows along `d`: move it last, run the row kernel, move it back (a view).
  int64_t last = x.dim() - 1;
  Tensor xt = d == last ? x.detach() : transpose(x.detach(), d, last);
  Tensor xc = contiguous(xt);
  Tensor y = Tensor::empty(xc.shape(), x.dtype(), x.device());
  int64_t C = x.dim() == 0 ? 1 : x.shape()[d];
  if (y.numel() > 0) CADENZA_KERNEL(softmax_forward, x.device(), x.dtype())
  (x.dtype(), y.numel() / C, C, xc.raw_data(), y.raw_data(), log);
  return d == last ? y : transpose(y, d, last);
}

Tensor softmax(const Tensor& x, int64_t dim) {
  check_defined(x, "softmax", "input");
  check_floating(x, "softmax");
  int64_t d = x.dim() == 0 ? 0 : wrap_dim(dim, x.dim(), "softmax");
  if (x.dim() == 0) return Tensor::ones({}, x.dtype(), x.device());
  Tensor y = softmax_raw(x, d, false);
  Tensor ys = y.detach();
  return record(y, "softmax", {x}, [x, ys, d](const Tensor& g) {
    Tensor s = GradMode::enabled() ? softmax(x, d) : ys;
    Tensor gs = mul(g, s);
    return std::vector<Tensor>{sub(gs, mul(s, sum(gs, {d}, true)))};
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  check_defined(x, "log_softmax", "input");
  check_floating(x, "log_softmax");
  if (x.dim() == 0) return Tensor::zeros({}, x.dtype(), x.device());
  int64_t d = wrap_dim(dim, x.dim(), "log_softmax");
  Tensor y = softmax_raw(x, d, true);
  Tensor ys = y.detach();
  return record(y, "log_softmax", {x}, [x, ys, d](const Tensor& g) {
    Tensor p = GradMode::enabled() ? softmax(x, d) : exp(ys);
    return std::vector<Tensor>{sub(g, mul(p, sum(g, {d}, true)))};
  });
}

static Tensor reduce_loss(const Tensor& l, const std::string& reduction, const char* op) {
  if (reduction == "none") return l;
  if (reduction == "sum") return sum(l);
  if (reduction == "mean") return mean(l);
  throw Error(std::string(op) + ": reduction must be 'mean', 'sum' or 'none', got '" + reduction +
              "'");
}

// x [N, C, d...] as rows [N * prod(d), C] (a view of a 2-d x).
static Tensor classes_last(const Tensor& x) {
  Tensor rows = x;
  if (x.dim() > 2) {
    std::vector<int64_t> perm{0};
    for (int64_t i = 2; i < x.dim(); ++i) perm.push_back(i);
    perm.push_back(1);
    rows = permute(x, perm);
  }
  return reshape(rows, {-1, x.shape()[1]});
}

// Checks that x is floating [N, C] or [N, C, d...] and `target` integer
// [N, d...]; returns the target's shape, the shape of reduction "none".
static Shape check_class_target(const Tensor& x, const Tensor& target, const char* op,
                                const char* what) {
  check_defined(x, op, what);
  check_defined(target, op, "target");
  check_floating(x, op);
  if (is_floating(target.dtype()))
    throw Error(std::string(op) + ": target must hold class indices (i32/i64), got " +
                target.str());
  if (x.dim() < 2)
    throw Error(std::string(op) + ": " + what + " must be [N, C] or [N, C, d...], got " + x.str());
  Shape want = x.shape();
  want.erase(want.begin() + 1);
  if (target.shape() != want)
    throw Error(std::string(op) + ": target " + target.str() + " should have shape " +
                shape_str(want) + " for " + what + " " + x.str());
  return want;
}

// The class dim of x [N, C, d...] moved last and everything else flattened
// ([M, C]), after check_class_target; `want` gets the target's shape.
static Tensor class_rows(const Tensor& x, const Tensor& target, const char* op, const char* what,
                         Shape* want) {
  *want = check_class_target(x, target, op, what);
  return classes_last(x);
}

// classes_last's inverse for a gradient: [M, C] rows back to x's [N, C, d...].
static Tensor rows_to_classes(const Tensor& rows, const Shape& x_shape) {
  if (x_shape.size() <= 2) return reshape(rows, x_shape);
  Shape moved{x_shape[0]};  // [N, d..., C]
  for (size_t i = 2; i < x_shape.size(); ++i) moved.push_back(x_shape[i]);
  moved.push_back(x_shape[1]);
  std::vector<int64_t> perm{0, static_cast<int64_t>(x_shape.size()) - 1};
  for (int64_t i = 1; i + 1 < static_cast<int64_t>(x_shape.size()); ++i) perm.push_back(i);
  return permute(reshape(rows, moved), perm);
}

static Error target_out_of_range(const char* op, int64_t value, int64_t position, int64_t C) {
  return Error(std::string(op) + ": target " + std::to_string(value) + " at position " +
               std::to_string(position) + " is out of range for " + std::to_string(C) + " classes");
}

Tensor nll_loss(const Tensor& logp, const Tensor& target, int64_t ignore_index,
                const std::string& reduction) {
  Shape want;
  Tensor lp = class_rows(logp, target, "nll_loss", "input", &want);
  const int64_t C = lp.shape()[1];
  // The targets are checked and masked on the host (a copy of the indices
  // from a device); the mask and the safe indices go to logp's device.
  const Device device = logp.device();
  Tensor t = contiguous(to_dtype(reshape(target, {-1}), DType::i64).to(Device{}));
  Tensor valid = Tensor::empty(t.shape(), logp.dtype());
  Tensor safe = Tensor::empty({t.numel(), 1}, DType::i64);
  const int64_t* pt = t.data<int64_t>();
  int64_t count = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    bool ok = pt[i] != ignore_index;
    if (ok && (pt[i] < 0 || pt[i] >= C)) throw target_out_of_range("nll_loss", pt[i], i, C);
    safe.data<int64_t>()[i] = ok ? pt[i] : 0;
    count += ok;
    if (logp.dtype() == DType::f32)
      valid.data<float>()[i] = ok;
    else
      valid.data<double>()[i] = ok;
  }
  if (device != Device{}) {
    safe = safe.to(device);
    valid = valid.to(device);
  }
  Tensor picked = reshape(gather(lp, 1, safe), {-1});
  Tensor losses = neg(mul(picked, valid));
  if (reduction == "none") return reshape(losses, want);
  if (reduction == "sum") return sum(losses);
  if (reduction == "mean")  // no valid target gives NaN, as in PyTorch
    return div(sum(losses), scalar_like(static_cast<double>(count), losses));
  throw Error("nll_loss: reduction must be 'mean', 'sum' or 'none', got '" + reduction + "'");
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                     const std::string& reduction) {
  const Shape want = check_class_target(logits, target, "cross_entropy", "logits");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    throw Error("cross_entropy: reduction must be 'mean', 'sum' or 'none', got '" + reduction +
                "'");
  int64_t M = 1;
  for (int64_t v : want) M *= v;
  const int64_t C = logits.shape()[1];
  const Device device = logits.device();
  const DType dt = logits.dtype();
  // One fused pass per row on the logits' device (softmax's statistics, the
  // target's loss, the mask); the targets are checked there too, and only
  // the first bad row's index comes back to the host. [N, C, d...] logits
  // are read in place, their class dim strided by d (as PyTorch takes them,
  // WaveNet's [B, Q, T]), and the gradient comes back in their layout: no
  // transposed copy either way.
  int64_t stride = 1;  // prod(d): the rows of one sample, and the class dim's stride
  for (int64_t i = 2; i < logits.dim(); ++i) stride *= logits.shape()[i];
  Tensor x = contiguous(logits.detach());
  Tensor t = contiguous(to_dtype(reshape(target, {-1}), DType::i64).to(device));
  Tensor losses = Tensor::empty({M}, dt, device), lse = Tensor::empty({M}, dt, device);
  Tensor valid = Tensor::empty({M}, dt, device), safe = Tensor::empty({M}, DType::i64, device);
  Tensor bad = Tensor::full({1}, -1.0, DType::i64, device);
  if (M > 0) {
    CADENZA_KERNEL(cross_entropy_forward, device, dt)
    (dt, M, C, stride, x.raw_data(), static_cast<const int64_t*>(t.raw_data()), ignore_index,
     losses.raw_data(), lse.raw_data(), valid.raw_data(), static_cast<int64_t*>(safe.raw_data()),
     static_cast<int64_t*>(bad.raw_data()));
    const int64_t first = bad.to(Device{}).data<int64_t>()[0];
    if (first >= 0)
      throw target_out_of_range("cross_entropy",
                                narrow(t, 0, first, 1).to(Device{}).data<int64_t>()[0], first, C);
  }
  Tensor l = record(losses, "cross_entropy", {logits},
                    [logits, x, safe, lse, valid, M, C, stride](const Tensor& g) {
                      const Tensor gv = mul(g, valid);  // [M]
                      if (GradMode::enabled()) {
                        // create_graph: softmax and the one-hot as recorded
                        // ops over the [M, C] rows, so the gradient can be
                        // differentiated again; back to the logits' shape.
                        Tensor d = mul(softmax(classes_last(logits), 1), unsqueeze(gv, 1));
                        Tensor dr = scatter_add(d, 1, unsqueeze(safe, 1), unsqueeze(neg(gv), 1));
                        return std::vector<Tensor>{rows_to_classes(dr, logits.shape())};
                      }
                      Tensor dx = Tensor::empty(logits.shape(), x.dtype(), x.device());
                      Tensor gc = contiguous(g);
                      if (M > 0) {
                        CADENZA_KERNEL(cross_entropy_backward, x.device(), x.dtype())
                        (x.dtype(), M, C, stride, x.raw_data(),
                         static_cast<const int64_t*>(safe.raw_data()), lse.raw_data(),
                         valid.raw_data(), gc.raw_data(), dx.raw_data());
                      }
                      return std::vector<Tensor>{dx};
                    });
  if (reduction == "none") return reshape(l, want);
  if (reduction == "sum") return sum(l);
  return div(sum(l), sum(valid));  // no valid target gives NaN, as in PyTorch
}

Tensor binary_cross_entropy_with_logits(const Tensor& x, const Tensor& t,
                                        const std::string& reduction) {
  const char* op = "binary_cross_entropy_with_logits";
  check_defined(x, op, "logits");
  check_defined(t, op, "target");
  check_floating(x, op);
  check_same_dtype(x, t, op);
  if (x.shape() != t.shape())
    throw Error(std::string(op) + ": logits " + x.str() + " and target " + t.str() +
                " differ in shape");
  // max(x,0) - x*t + log1p(exp(-|x|)), computed without history; the
  // gradient sigmoid(x) - t is exact even at x = 0, where the pieces' are not.
  Tensor l;
  {
    NoGradGuard ng;
    Tensor xd = x.detach(), td = t.detach();
    l = add(sub(relu(xd), mul(xd, td)), log1p(exp(neg(abs(xd)))));
  }
  l = record(l, op, {x, t}, [x, t](const Tensor& g) {
    return std::vector<Tensor>{mul(g, sub(sigmoid(x), t)), mul(g, neg(x))};
  });
  return reduce_loss(l, reduction, op);
}

Tensor mse_loss(const Tensor& x, const Tensor& t, const std::string& reduction) {
  if (x.shape() != t.shape())
    throw Error("mse_loss: input " + x.str() + " and target " + t.str() + " differ in shape");
  Tensor d = sub(x, t);
  return reduce_loss(mul(d, d), reduction, "mse_loss");
}

Tensor l1_loss(const Tensor& x, const Tensor& t, const std::string& reduction) {
  if (x.shape() != t.shape())
    throw Error("l1_loss: input " + x.str() + " and target " + t.str() + " differ in shape");
  return reduce_loss(abs(sub(x, t)), reduction, "l1_loss");
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  if (!(p >= 0 && p <= 1)) throw Error("dropout: p=" + std::to_string(p) + " is not in [0, 1]");
  if (!training || p == 0) return x;
  if (p == 1) return mul(x, scalar_like(0, x));
  // Drawn on x's device by the Philox kernels, whose uniforms are the same
  // bits on every device: the same mask for the same generator state, with
  // no host draw and no copy.
  return mul(x, bernoulli(x.shape(), 1 - p, x.dtype(), gen, x.device(), 1.0 / (1 - p)));
}

}  // namespace cadenza
