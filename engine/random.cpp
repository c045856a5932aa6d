#include "engine/random.h"
#include "engine/backend.h"

#include "engine/ops.h"
#include "kernels/cpu/random.h"

namespace cadenza {

Generator& default_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

static Generator& pick(Generator* g) { return g ? *g : default_generator(); }

Tensor Generator::state() const {
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(seed_), static_cast<int64_t>(offset_)});
}

void Generator::set_state(const Tensor& s) {
  if (s.numel() != 2 || s.dtype() != DType::i64)
    throw Error("Generator::set_state: expected an i64 tensor of 2 values, got " + s.str());
  auto v = s.to_vector<int64_t>();
  seed_ = static_cast<uint64_t>(v[0]);
  offset_ = static_cast<uint64_t>(v[1]);
}

static void fill_random(Tensor& t, bool normal, double a, double b, Generator* gen) {
  if (!is_floating(t.dtype()))
    throw Error(std::string(normal ? "normal_" : "uniform_") + ": needs a floating tensor, got " + t.str());
  Generator& g = pick(gen);
  int64_t n = t.numel();
  Tensor buf = t.is_contiguous() ? t : empty_like(t);
  if (normal)
    CADENZA_KERNEL(philox_normal, t.device(), t.dtype())(t.dtype(), g.seed(), g.reserve((n + 1) / 2), n, buf.raw_data(), a, b);
  else
    CADENZA_KERNEL(philox_uniform, t.device(), t.dtype())(t.dtype(), g.seed(), g.reserve((n + 3) / 4), n, buf.raw_data(), a, b);
  if (!t.is_contiguous()) t.copy_(buf);
}

void uniform_(Tensor& t, double lo, double hi, Generator* gen) { fill_random(t, false, lo, hi, gen); }
void normal_(Tensor& t, double mean, double std, Generator* gen) { fill_random(t, true, mean, std, gen); }

Tensor rand(const Shape& shape, DType dtype, Generator* gen) {
  Tensor t = Tensor::empty(shape, dtype);
  uniform_(t, 0, 1, gen);
  return t;
}

Tensor randn(const Shape& shape, DType dtype, Generator* gen) {
  Tensor t = Tensor::empty(shape, dtype);
  normal_(t, 0, 1, gen);
  return t;
}

Tensor bernoulli(const Shape& shape, double p, DType dtype, Generator* gen, Device device, double value) {
  if (!(p >= 0 && p <= 1)) throw Error("bernoulli: p=" + std::to_string(p) + " is not in [0, 1]");
  if (is_floating(dtype)) {  // the uniforms uniform_ would draw, compared in the kernel
    Tensor out = Tensor::empty(shape, dtype, device);
    const int64_t n = out.numel();
    Generator& g = pick(gen);
    CADENZA_KERNEL(philox_bernoulli, device, dtype)
    (dtype, g.seed(), g.reserve((n + 3) / 4), n, out.raw_data(), p, value);
    return out;
  }
  Tensor u = Tensor::empty(shape, DType::f64, device);
  uniform_(u, 0, 1, gen);
  Tensor b = to_dtype(lt(u, Tensor::full({}, p, u.dtype(), device)), dtype);
  return value == 1.0 ? b : mul(b, Tensor::full({}, value, dtype, device));
}

Tensor bernoulli(const Tensor& probs, Generator* gen) {
  Tensor u = rand(probs.shape(), probs.dtype(), gen);
  return lt(u, probs.detach());
}

Tensor randint(int64_t lo, int64_t hi, const Shape& shape, Generator* gen) {
  if (hi <= lo) throw Error("randint: empty range [" + std::to_string(lo) + ", " + std::to_string(hi) + ")");
  Tensor u = rand(shape, DType::f64, gen);
  Tensor out = Tensor::empty(shape, DType::i64);
  const double* pu = u.data<double>();
  int64_t* po = out.data<int64_t>();
  for (int64_t i = 0; i < out.numel(); ++i)
    po[i] = std::min(hi - 1, lo + static_cast<int64_t>(pu[i] * static_cast<double>(hi - lo)));
  return out;
}

double uniform_double(Generator* gen) { return rand({1}, DType::f64, gen).data<double>()[0]; }

std::vector<int64_t> randperm(int64_t n, Generator* gen) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  if (n < 2) return p;
  Tensor u = rand({n}, DType::f64, gen);
  const double* pu = u.data<double>();
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = std::min(i, static_cast<int64_t>(pu[i] * static_cast<double>(i + 1)));
    std::swap(p[i], p[j]);
  }
  return p;
}

}  // namespace cadenza
