// Views (sharing storage), copies, concatenation, splitting and padding.
#include <numeric>
#include "engine/backend.h"

#include "engine/ops_util.h"

namespace cadenza {

using namespace detail;

static Shape infer_shape(const Shape& want, int64_t numel, const char* op, const Tensor& x) {
  Shape s = want;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw Error(std::string(op) + ": only one dimension can be -1 in " + shape_str(want));
      infer = static_cast<int64_t>(i);
    } else if (s[i] < 0) {
      throw Error(std::string(op) + ": invalid dimension in " + shape_str(want));
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      throw Error(std::string(op) + ": cannot view " + x.str() + " as " + shape_str(want));
    s[infer] = numel / known;
  }
  if (shape_numel(s) != numel)
    throw Error(std::string(op) + ": shape " + shape_str(want) + " does not fit the " +
                std::to_string(numel) + " elements of " + x.str());
  return s;
}

Tensor view(const Tensor& x, const Shape& want) {
  check_defined(x, "view", "input");
  Shape s = infer_shape(want, x.numel(), "view", x);
  if (!x.is_contiguous())
    throw Error("view: " + x.str() + " is not contiguous; use reshape (which copies)");
  Tensor y = make_view(x, s, contiguous_strides(s), x.offset());
  Shape in = x.shape();
  return record(y, "view", {x}, [in](const Tensor& g) { return std::vector<Tensor>{reshape(g, in)}; });
}

Tensor reshape(const Tensor& x, const Shape& want) {
  check_defined(x, "reshape", "input");
  Shape s = infer_shape(want, x.numel(), "reshape", x);
  if (s == x.shape()) return x;
  return view(x.is_contiguous() ? x : contiguous(x), s);
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  check_defined(x, "narrow", "input");
  if (x.dim() == 0) throw Error("narrow: cannot narrow a 0-d tensor");
  int64_t d = wrap_dim(dim, x.dim(), "narrow");
  int64_t n = x.shape()[d];
  if (start < 0) start += n;
  if (start < 0 || length < 0 || start + length > n)
    throw Error("narrow: range [" + std::to_string(start) + ", " + std::to_string(start + length) +
                ") is outside dim " + std::to_string(d) + " of " + x.str());
  Shape s = x.shape();
  s[d] = length;
  Tensor y = make_view(x, s, x.strides(), x.offset() + start * x.strides()[d]);
  int64_t ndim = x.dim();
  return record(y, "narrow", {x}, [d, start, length, n, ndim](const Tensor& g) {
    std::vector<int64_t> pads(2 * ndim, 0);
    int64_t k = ndim - 1 - d;  // pad() lists dims from the last
    pads[2 * k] = start;
    pads[2 * k + 1] = n - start - length;
    return std::vector<Tensor>{pad(g, pads, 0.0)};
  });
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  int64_t d = wrap_dim(dim, x.dim(), "select");
  int64_t n = x.shape()[d];
  if (index < -n || index >= n)
    throw Error("select: index " + std::to_string(index) + " is out of range for dim " +
                std::to_string(d) + " of " + x.str());
  return squeeze(narrow(x, d, index < 0 ? index + n : index, 1), d);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  check_defined(x, "permute", "input");
  if (static_cast<int64_t>(dims.size()) != x.dim())
    throw Error("permute: " + std::to_string(dims.size()) + " dims given for " + x.str());
  std::vector<int64_t> p(dims.size());
  std::vector<bool> seen(dims.size(), false);
  Shape s(dims.size()), st(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], x.dim(), "permute");
    if (seen[d]) throw Error("permute: dim " + std::to_string(d) + " repeated");
    seen[d] = true;
    p[i] = d;
    s[i] = x.shape()[d];
    st[i] = x.strides()[d];
  }
  Tensor y = make_view(x, s, st, x.offset());
  std::vector<int64_t> inv(p.size());
  for (size_t i = 0; i < p.size(); ++i) inv[p[i]] = static_cast<int64_t>(i);
  return record(y, "permute", {x}, [inv](const Tensor& g) {
    return std::vector<Tensor>{permute(g, inv)};
  });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  check_defined(x, "transpose", "input");
  std::vector<int64_t> p(x.dim());
  std::iota(p.begin(), p.end(), 0);
  if (x.dim() == 0) return x;
  std::swap(p[wrap_dim(d0, x.dim(), "transpose")], p[wrap_dim(d1, x.dim(), "transpose")]);
  return permute(x, p);
}

Tensor expand(const Tensor& x, const Shape& want) {
  check_defined(x, "expand", "input");
  Shape s = want;
  int64_t lead = static_cast<int64_t>(s.size()) - x.dim();
  if (lead < 0) throw Error("expand: cannot expand " + x.str() + " to fewer dims " + shape_str(want));
  for (int64_t i = 0; i < x.dim(); ++i)
    if (s[lead + i] == -1) s[lead + i] = x.shape()[i];
  if (s == x.shape()) return x;
  Tensor y = broadcast_view(x, s, "expand");
  Shape in = x.shape();
  return record(y, "expand", {x}, [in](const Tensor& g) { return std::vector<Tensor>{sum_to(g, in)}; });
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  check_defined(x, "squeeze", "input");
  if (x.dim() == 0) return x;
  int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  if (x.shape()[d] != 1) return x;
  Shape s = x.shape(), st = x.strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  Tensor y = make_view(x, s, st, x.offset());
  Shape in = x.shape();
  return record(y, "squeeze", {x}, [in](const Tensor& g) { return std::vector<Tensor>{reshape(g, in)}; });
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  check_defined(x, "unsqueeze", "input");
  int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape s = x.shape(), st = x.strides();
  int64_t stride = d < x.dim() ? x.strides()[d] * x.shape()[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  Tensor y = make_view(x, s, st, x.offset());
  Shape in = x.shape();
  return record(y, "unsqueeze", {x}, [in](const Tensor& g) { return std::vector<Tensor>{reshape(g, in)}; });
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  int64_t a = wrap_dim(start_dim, x.dim(), "flatten"), b = wrap_dim(end_dim, x.dim(), "flatten");
  if (a > b) throw Error("flatten: start_dim comes after end_dim");
  Shape s;
  for (int64_t i = 0; i < a; ++i) s.push_back(x.shape()[i]);
  int64_t m = 1;
  for (int64_t i = a; i <= b; ++i) m *= x.shape()[i];
  s.push_back(m);
  for (int64_t i = b + 1; i < x.dim(); ++i) s.push_back(x.shape()[i]);
  return reshape(x, s);
}

static Tensor copy_raw(const Tensor& x, DType dt) {
  Tensor y = Tensor::empty(x.shape(), dt, x.device());
  CADENZA_KERNEL(copy_cast, x.device(), x.dtype())(x.dtype(), dt, static_cast<int>(x.dim()), x.shape().data(), operand(x),
                     operand(y));
  return y;
}

Tensor contiguous(const Tensor& x) {
  check_defined(x, "contiguous", "input");
  if (x.is_contiguous()) return x;
  return clone(x);
}

Tensor clone(const Tensor& x) {
  check_defined(x, "clone", "input");
  Tensor y = copy_raw(x, x.dtype());
  return record(y, "clone", {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor to_dtype(const Tensor& x, DType dt) {
  check_defined(x, "to", "input");
  if (x.dtype() == dt) return x;
  Tensor y = copy_raw(x, dt);
  if (!is_floating(dt)) return y;
  DType from = x.dtype();
  return record(y, "to", {x}, [from](const Tensor& g) {
    return std::vector<Tensor>{to_dtype(g, from)};
  });
}

Tensor to_device(const Tensor& x, Device device) {
  check_defined(x, "to", "input");
  if (x.device() == device) return x;
  backend::backend_for(device);  // "not available" before anything is copied
  Tensor src = x.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), device);
  const size_t bytes = static_cast<size_t>(x.numel()) * dtype_size(x.dtype());
  if (bytes > 0) {
    const Device from = x.device();
    if (from.kind == Device::cpu) {
      backend::backend_for(device).memory.from_host(y.raw_data(), src.raw_data(), bytes, device.index);
    } else if (device.kind == Device::cpu) {
      backend::backend_for(from).memory.to_host(y.raw_data(), src.raw_data(), bytes, from.index);
    } else {  // between two devices: through the host
      Tensor host = Tensor::empty(x.shape(), x.dtype());
      backend::backend_for(from).memory.to_host(host.raw_data(), src.raw_data(), bytes, from.index);
      backend::backend_for(device).memory.from_host(y.raw_data(), host.raw_data(), bytes, device.index);
    }
  }
  if (!is_floating(x.dtype())) return y;
  const Device from = x.device();
  return record(y, "to", {x}, [from](const Tensor& g) { return std::vector<Tensor>{to_device(g, from)}; });
}

Tensor empty_like(const Tensor& x) {
  check_defined(x, "empty_like", "input");
  return Tensor::empty(x.shape(), x.dtype(), x.device());
}

Tensor zeros_like(const Tensor& x) {
  check_defined(x, "zeros_like", "input");
  return Tensor::zeros(x.shape(), x.dtype(), x.device());
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) throw Error("concat: no tensors given");
  const Tensor& f = xs[0];
  check_defined(f, "concat", "tensor 0");
  int64_t d = wrap_dim(dim, f.dim(), "concat");
  Shape s = f.shape();
  int64_t total = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    check_defined(xs[i], "concat", "an input");
    check_same_dtype(f, xs[i], "concat");
    if (xs[i].dim() != f.dim())
      throw Error("concat: tensor " + std::to_string(i) + " " + xs[i].str() + " has a different rank than " + f.str());
    for (int64_t k = 0; k < f.dim(); ++k)
      if (k != d && xs[i].shape()[k] != s[k])
        throw Error("concat: tensor " + std::to_string(i) + " " + xs[i].str() +
                    " does not match " + f.str() + " outside dim " + std::to_string(d));
    total += xs[i].shape()[d];
  }
  s[d] = total;
  for (const Tensor& x : xs)
    if (x.device() != f.device())
      throw Error("concat: tensors on " + f.device().str() + " and " + x.device().str() + "; move them to one device");
  Tensor out = Tensor::empty(s, f.dtype(), f.device());
  std::vector<int64_t> sizes;
  int64_t off = 0;
  for (const Tensor& x : xs) {
    int64_t n = x.shape()[d];
    sizes.push_back(n);
    if (n > 0) {
      Tensor dst = make_view(out, x.shape(), out.strides(), off * out.strides()[d]);
      CADENZA_KERNEL(copy_cast, x.device(), x.dtype())(x.dtype(), x.dtype(), static_cast<int>(x.dim()), x.shape().data(),
                         operand(x), operand(dst));
    }
    off += n;
  }
  return record(out, "concat", xs, [sizes, d](const Tensor& g) {
    std::vector<Tensor> gs;
    int64_t o = 0;
    for (int64_t n : sizes) {
      gs.push_back(narrow(g, d, o, n));
      o += n;
    }
    return gs;
  });
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) throw Error("stack: no tensors given");
  int64_t d = wrap_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> u;
  for (const Tensor& x : xs) {
    if (x.shape() != xs[0].shape())
      throw Error("stack: " + x.str() + " and " + xs[0].str() + " differ in shape");
    u.push_back(unsqueeze(x, d));
  }
  return concat(u, d);
}

std::vector<Tensor> split_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (auto s : sizes) total += s;
  if (total != x.shape()[d])
    throw Error("split: sizes add up to " + std::to_string(total) + " but dim " +
                std::to_string(d) + " of " + x.str() + " has " + std::to_string(x.shape()[d]));
  std::vector<Tensor> out;
  int64_t o = 0;
  for (auto s : sizes) {
    out.push_back(narrow(x, d, o, s));
    o += s;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t dim) {
  if (size <= 0) throw Error("split: split_size must be positive");
  int64_t d = wrap_dim(dim, x.dim(), "split");
  std::vector<int64_t> sizes;
  for (int64_t o = 0; o < x.shape()[d]; o += size) sizes.push_back(std::min(size, x.shape()[d] - o));
  return split_sizes(x, sizes, d);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  if (chunks <= 0) throw Error("chunk: chunks must be positive");
  int64_t n = x.shape()[wrap_dim(dim, x.dim(), "chunk")];
  return split(x, std::max<int64_t>(1, (n + chunks - 1) / chunks), dim);
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  check_defined(x, "pad", "input");
  if (pads.size() % 2 != 0 || static_cast<int64_t>(pads.size()) > 2 * x.dim())
    throw Error("pad: " + std::to_string(pads.size()) + " padding values for " + x.str() +
                " (need pairs, at most two per dim)");
  Shape s = x.shape();
  int64_t off = 0;
  std::vector<int64_t> before(x.dim(), 0);
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    int64_t d = x.dim() - 1 - static_cast<int64_t>(k);
    if (pads[2 * k] < 0 || pads[2 * k + 1] < 0) throw Error("pad: negative padding is not supported");
    before[d] = pads[2 * k];
    s[d] += pads[2 * k] + pads[2 * k + 1];
  }
  Tensor out = Tensor::full(s, value, x.dtype(), x.device());
  for (int64_t d = 0; d < x.dim(); ++d) off += before[d] * out.strides()[d];
  if (x.numel() > 0) {
    Tensor dst = make_view(out, x.shape(), out.strides(), off);
    CADENZA_KERNEL(copy_cast, x.device(), x.dtype())(x.dtype(), x.dtype(), static_cast<int>(x.dim()), x.shape().data(),
                       operand(x), operand(dst));
  }
  Shape in = x.shape();
  return record(out, "pad", {x}, [before, in](const Tensor& g) {
    Tensor r = g;
    for (size_t d = 0; d < in.size(); ++d)
      if (g.shape()[d] != in[d]) r = narrow(r, static_cast<int64_t>(d), before[d], in[d]);
    return std::vector<Tensor>{r};
  });
}

}  // namespace cadenza
