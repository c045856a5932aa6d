// Reductions along dims, with keepdim.
#include <cmath>
#include "engine/backend.h"
#include <limits>

#include "engine/ops_util.h"
#include "kernels/cpu/reduce.h"

namespace cadenza {

using namespace detail;
using kernels::ReduceOp;

namespace {

// Runs a reduction kernel over sorted, wrapped `dims` of x. Returns the
// result with keepdim=true geometry.
Tensor reduce_raw(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, const char* name) {
  const Shape& sh = x.shape();
  Shape keep = reduced_shape(sh, dims, true);
  DType out_dt = (op == ReduceOp::argmax || op == ReduceOp::argmin) ? DType::i64 : x.dtype();
  Tensor out = Tensor::empty(keep, out_dt, x.device());
  if (out.numel() == 0) return out;
  bool consecutive = true;
  for (size_t i = 1; i < dims.size(); ++i) consecutive &= dims[i] == dims[i - 1] + 1;
  int64_t R = 1;
  for (auto d : dims) R *= sh[d];
  if (R == 0) {
    if (op != ReduceOp::sum)
      throw Error(std::string(name) + ": cannot reduce an empty dimension of " + x.str());
    out.fill_(0);
    return out;
  }
  Tensor src = x;
  int64_t outer = 1, inner = 1;
  if (consecutive && !dims.empty()) {
    src = x.is_contiguous() ? x : contiguous(x.detach());
    for (int64_t i = 0; i < dims.front(); ++i) outer *= sh[i];
    for (int64_t i = dims.back() + 1; i < x.dim(); ++i) inner *= sh[i];
  } else {
    // Move the reduced dims last and copy: rows of R values.
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (std::find(dims.begin(), dims.end(), i) == dims.end()) perm.push_back(i);
    for (auto d : dims) perm.push_back(d);
    src = contiguous(permute(x.detach(), perm));
    outer = x.numel() / R;
  }
  CADENZA_KERNEL(reduce_forward, x.device(), x.dtype())(op, x.dtype(), outer, R, inner, src.raw_data(), out.raw_data());
  return out;
}

Tensor finish(const Tensor& keep_shaped, const Shape& in, const std::vector<int64_t>& dims,
              bool keepdim) {
  if (keepdim) return keep_shaped;
  return make_view(keep_shaped, reduced_shape(in, dims, false),
                   contiguous_strides(reduced_shape(in, dims, false)), keep_shaped.offset());
}

// Gradient of a reduction: g (reduced shape) seen with keepdim geometry,
// broadcast back over the input.
Tensor expand_back(const Tensor& g, const Shape& keep, const Shape& in) {
  return expand(reshape(g, keep), in);
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_defined(x, "sum", "input");
  auto dims = wrap_dims(dims_in, x.dim(), "sum");
  Tensor y = finish(reduce_raw(ReduceOp::sum, x, dims, "sum"), x.shape(), dims, keepdim);
  Shape keep = reduced_shape(x.shape(), dims, true), in = x.shape();
  return record(y, "sum", {x}, [keep, in](const Tensor& g) {
    return std::vector<Tensor>{expand_back(g, keep, in)};
  });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_defined(x, "mean", "input");
  check_floating(x, "mean");
  auto dims = wrap_dims(dims_in, x.dim(), "mean");
  int64_t n = 1;
  for (auto d : dims) n *= x.shape()[d];
  return div(sum(x, dims, keepdim), scalar_like(static_cast<double>(n), x));
}

static Tensor extreme(bool is_max, const Tensor& x, const std::vector<int64_t>& dims_in,
                      bool keepdim) {
  const char* name = is_max ? "max" : "min";
  check_defined(x, name, "input");
  auto dims = wrap_dims(dims_in, x.dim(), name);
  Tensor yk = reduce_raw(is_max ? ReduceOp::max : ReduceOp::min, x, dims, name);
  Tensor y = finish(yk, x.shape(), dims, keepdim);
  Shape keep = yk.shape(), in = x.shape();
  return record(y, name, {x}, [x, yk, dims, keep, in](const Tensor& g) {
    // Ties share the gradient evenly, as torch.amax does.
    Tensor mask = eq(x.detach(), yk);
    Tensor count = sum(mask, dims, true);
    return std::vector<Tensor>{mul(expand_back(g, keep, in), div(mask, count))};
  });
}

Tensor max(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme(true, x, dims, keepdim);
}
Tensor min(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme(false, x, dims, keepdim);
}

static Tensor arg_extreme(bool is_max, const Tensor& x, int64_t dim, bool keepdim) {
  const char* name = is_max ? "argmax" : "argmin";
  check_defined(x, name, "input");
  std::vector<int64_t> dims{wrap_dim(dim, x.dim(), name)};
  if (x.dim() == 0) dims.clear();
  Tensor r = reduce_raw(is_max ? ReduceOp::argmax : ReduceOp::argmin, x, dims, name);
  return finish(r, x.shape(), dims, keepdim);
}
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return arg_extreme(true, x, dim, keepdim); }
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) { return arg_extreme(false, x, dim, keepdim); }

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_defined(x, "logsumexp", "input");
  check_floating(x, "logsumexp");
  auto dims = wrap_dims(dims_in, x.dim(), "logsumexp");
  // Shift by the (constant) maximum; an infinite maximum shifts by 0 so that
  // all -inf rows give -inf and +inf rows give +inf, as in PyTorch.
  Tensor m = reduce_raw(ReduceOp::max, x, dims, "logsumexp");
  m = where(isinf_mask(m), scalar_on(0, m), m);
  Tensor s = sum(exp(sub(x, m)), dims, true);
  Tensor out = add(log(s), m);
  return keepdim ? out : reshape(out, reduced_shape(x.shape(), dims, false));
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims_in, bool unbiased, bool keepdim) {
  check_floating(x, "var");
  auto dims = wrap_dims(dims_in, x.dim(), "var");
  int64_t n = 1;
  for (auto d : dims) n *= x.shape()[d];
  Tensor c = sub(x, mean(x, dims, true));
  Tensor ss = sum(mul(c, c), dims, keepdim);
  return div(ss, scalar_like(static_cast<double>(unbiased ? n - 1 : n), x));
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  if (lead < 0)
    throw Error("sum_to: cannot reduce " + x.str() + " to the larger shape " + shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < lead) {
      dims.push_back(i);
    } else {
      int64_t want = shape[i - lead];
      if (want == 1 && x.shape()[i] != 1)
        dims.push_back(i);
      else if (want != x.shape()[i])
        throw Error("sum_to: cannot reduce " + x.str() + " to " + shape_str(shape));
    }
  }
  if (dims.empty()) return reshape(x, shape);
  return reshape(sum(x, dims, true), shape);
}

}  // namespace cadenza
