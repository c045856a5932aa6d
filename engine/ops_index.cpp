// Indexing: index_select / index_add, embedding, gather / scatter_add,
// where, masked_fill.
#include "engine/ops_util.h"
#include "engine/backend.h"
#include "kernels/cpu/index.h"

namespace cadenza {

using namespace detail;

namespace {

// Integer index as contiguous int64 on x's device, every value checked
// against [0, n). On a device, its minimum and maximum come to the host
// (16 bytes, not the whole index), and only a bad index is copied whole
// to name its first value out of range.
Tensor checked_index(const Tensor& index, const Tensor& x, int64_t n, const char* op, const std::string& what) {
  check_defined(index, op, "index");
  if (is_floating(index.dtype()))
    throw Error(std::string(op) + ": index must be an integer tensor, got " + index.str());
  check_same_device(x, index, op, "input", "index");
  Tensor idx = contiguous(to_dtype(index, DType::i64));
  if (idx.device().kind != Device::cpu && idx.numel() > 0) {
    const Tensor range = stack({min(idx), max(idx)}, 0).to(Device{});
    const int64_t* r = range.data<int64_t>();
    if (r[0] >= 0 && r[1] < n) return idx;
  }
  const Tensor host = idx.device().kind == Device::cpu ? idx : idx.to(Device{});
  const int64_t* p = host.data<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i)
    if (p[i] < 0 || p[i] >= n)
      throw Error(std::string(op) + ": index " + std::to_string(p[i]) + " is out of range for " +
                  what + " of size " + std::to_string(n));
  return idx;
}

const int64_t* index_data(const Tensor& idx) { return static_cast<const int64_t*>(idx.raw_data()); }

void outer_inner(const Shape& s, int64_t d, int64_t& outer, int64_t& inner) {
  outer = inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= s[i];
  for (size_t i = d + 1; i < s.size(); ++i) inner *= s[i];
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined(x, "index_select", "input");
  int64_t d = wrap_dim(dim, x.dim(), "index_select");
  if (index.dim() > 1) throw Error("index_select: index must be 1-D, got " + index.str());
  Tensor idx = checked_index(index, x, x.shape()[d], "index_select", "dim " + std::to_string(d) + " of " + x.str());
  Tensor xc = contiguous(x.detach());
  Shape s = x.shape();
  s[d] = idx.numel();
  Tensor out = Tensor::empty(s, x.dtype(), x.device());
  int64_t outer, inner;
  outer_inner(x.shape(), d, outer, inner);
  CADENZA_KERNEL(index_select_forward, x.device(), x.dtype())(x.dtype(), outer, x.shape()[d], inner, xc.raw_data(),
                                index_data(idx), idx.numel(), out.raw_data());
  Shape in = x.shape();
  DType dt = x.dtype();
  Device dev = x.device();
  return record(out, "index_select", {x}, [in, dt, dev, d, idx](const Tensor& g) {
    return std::vector<Tensor>{index_add(Tensor::zeros(in, dt, dev), d, idx, g)};
  });
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined(x, "index_add", "input");
  check_same_dtype(x, src, "index_add");
  check_same_device(x, src, "index_add", "input", "source");
  int64_t d = wrap_dim(dim, x.dim(), "index_add");
  Tensor idx = checked_index(index, x, x.shape()[d], "index_add", "dim " + std::to_string(d) + " of " + x.str());
  Shape want = x.shape();
  want[d] = idx.numel();
  if (src.shape() != want)
    throw Error("index_add: source " + src.str() + " should have shape " + shape_str(want));
  Tensor out = clone(x.detach());
  Tensor sc = contiguous(src.detach());
  int64_t outer, inner;
  outer_inner(x.shape(), d, outer, inner);
  CADENZA_KERNEL(index_add_forward, x.device(), x.dtype())(x.dtype(), outer, x.shape()[d], inner, out.raw_data(),
                             index_data(idx), idx.numel(), sc.raw_data());
  return record(out, "index_add", {x, src}, [d, idx](const Tensor& g) {
    return std::vector<Tensor>{g, index_select(g, d, idx)};
  });
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  check_defined(weight, "embedding", "weight");
  if (weight.dim() != 2) throw Error("embedding: weight must be [num, dim], got " + weight.str());
  Tensor flat = reshape(ids, {ids.numel()});
  Tensor rows = index_select(weight, 0, flat);
  Shape s = ids.shape();
  s.push_back(weight.shape()[1]);
  return reshape(rows, s);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined(x, "gather", "input");
  int64_t d = wrap_dim(dim, x.dim(), "gather");
  if (index.dim() != x.dim())
    throw Error("gather: index " + index.str() + " must have the rank of the input " + x.str());
  for (int64_t k = 0; k < x.dim(); ++k)
    if (k != d && index.shape()[k] != x.shape()[k])
      throw Error("gather: index " + index.str() + " must match input " + x.str() +
                  " outside dim " + std::to_string(d));
  Tensor idx = checked_index(index, x, x.shape()[d], "gather", "dim " + std::to_string(d) + " of " + x.str());
  Tensor xc = contiguous(x.detach());
  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  int64_t outer, inner;
  outer_inner(x.shape(), d, outer, inner);
  CADENZA_KERNEL(gather_forward, x.device(), x.dtype())(x.dtype(), outer, x.shape()[d], inner, xc.raw_data(), index_data(idx),
                          index.shape()[d], out.raw_data());
  Shape in = x.shape();
  DType dt = x.dtype();
  Device dev = x.device();
  return record(out, "gather", {x}, [in, dt, dev, d, idx](const Tensor& g) {
    return std::vector<Tensor>{scatter_add(Tensor::zeros(in, dt, dev), d, idx, g)};
  });
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined(x, "scatter_add", "input");
  check_same_dtype(x, src, "scatter_add");
  check_same_device(x, src, "scatter_add", "input", "source");
  int64_t d = wrap_dim(dim, x.dim(), "scatter_add");
  if (index.shape() != src.shape())
    throw Error("scatter_add: index " + index.str() + " and source " + src.str() + " differ in shape");
  if (index.dim() != x.dim())
    throw Error("scatter_add: index " + index.str() + " must have the rank of the input " + x.str());
  for (int64_t k = 0; k < x.dim(); ++k)
    if (k != d && index.shape()[k] != x.shape()[k])
      throw Error("scatter_add: index " + index.str() + " must match input " + x.str() +
                  " outside dim " + std::to_string(d));
  Tensor idx = checked_index(index, x, x.shape()[d], "scatter_add", "dim " + std::to_string(d) + " of " + x.str());
  Tensor out = clone(x.detach());
  Tensor sc = contiguous(src.detach());
  int64_t outer, inner;
  outer_inner(x.shape(), d, outer, inner);
  CADENZA_KERNEL(scatter_add_forward, x.device(), x.dtype())(x.dtype(), outer, x.shape()[d], inner, out.raw_data(),
                               index_data(idx), index.shape()[d], sc.raw_data());
  return record(out, "scatter_add", {x, src}, [d, idx](const Tensor& g) {
    return std::vector<Tensor>{g, gather(g, d, idx)};
  });
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined(cond, "where", "condition");
  check_defined(a, "where", "first value");
  check_defined(b, "where", "second value");
  check_same_dtype(a, b, "where");
  Shape s = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  if (cond.device() != a.device() || b.device() != a.device())
    throw Error("where: condition and values on " + cond.device().str() + ", " + a.device().str() + " and " +
                b.device().str() + "; move them to one device");
  Tensor c = broadcast_view(cond, s, "where"), ea = broadcast_view(a, s, "where"),
         eb = broadcast_view(b, s, "where");
  Tensor out = Tensor::empty(s, a.dtype(), a.device());
  CADENZA_KERNEL(where_forward, a.device(), a.dtype())(cond.dtype(), a.dtype(), static_cast<int>(s.size()), s.data(), operand(c),
                         operand(ea), operand(eb), operand(out));
  Tensor cd = cond.detach();
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "where", {a, b}, [cd, sa, sb](const Tensor& g) {
    Tensor zero = scalar_on(0, g);
    return std::vector<Tensor>{sum_to(where(cd, g, zero), sa), sum_to(where(cd, zero, g), sb)};
  });
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  check_defined(x, "masked_fill", "input");
  if (broadcast_shapes(mask.shape(), x.shape(), "masked_fill") != x.shape())
    throw Error("masked_fill: mask " + mask.str() + " does not broadcast to " + x.str());
  return where(mask, scalar_on(value, x), x);
}

}  // namespace cadenza
