#include "engine/tensor.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/backend.h"

namespace cadenza {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::i64: return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
  }
  return "?";
}

std::string Device::str() const {
  return kind == cpu ? "cpu" : "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& text) {
  if (text == "cpu") return Device{};
  if (text == "cuda") return Device{cuda, 0};
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() <= 8 &&
      text.find_first_not_of("0123456789", 5) == std::string::npos)
    return Device{cuda, std::stoi(text.substr(5))};
  throw OptionError("device", "device must be cpu, cuda or cuda:N, got '" + text + "'");
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i] > 0 ? s[i] : 1;
  }
  return st;
}

namespace {

// Freed blocks of 1 MiB and more are kept for reuse, keyed by their rounded
// size: a training step allocates the same large buffers every time, and a
// fresh mmap'd block costs a page fault per 4 KiB on first touch.
class BlockCache {
 public:
  static constexpr size_t kMinCached = size_t(1) << 20;
#if defined(__SANITIZE_ADDRESS__)
  // Under AddressSanitizer every block goes back, so a use after free is seen.
  static constexpr size_t kMaxCachedBytes = 0;
#else
  static constexpr size_t kMaxCachedBytes = size_t(2) << 30;
#endif

  static size_t round(size_t n) {
    if (n < kMinCached) return ((n + 63) / 64) * 64;
    return ((n + kMinCached - 1) / kMinCached) * kMinCached;
  }
  void* get(size_t rounded) {
    if (rounded >= kMinCached) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(rounded);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= rounded;
        return p;
      }
    }
    return std::aligned_alloc(64, rounded);
  }
  void put(void* p, size_t rounded) {
    if (rounded >= kMinCached) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + rounded <= kMaxCachedBytes) {
        free_[rounded].push_back(p);
        cached_ += rounded;
        return;
      }
    }
    std::free(p);
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& kv : free_)
      for (void* p : kv.second) std::free(p);
    free_.clear();
    cached_ = 0;
  }

 private:
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
};

// Never destroyed: storages freed during static destruction still find it.
BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache();
  return *cache;
}

}  // namespace

namespace backend {

namespace {

constexpr unsigned char kGuard = 0xA5;

std::atomic<int64_t>& violations() {
  static std::atomic<int64_t> n{0};
  return n;
}

}  // namespace

size_t guard_bytes() {
  static const size_t g = [] {
    const char* v = std::getenv("CADENZA_GUARD_BYTES");
    long n = v ? std::atol(v) : 0;
    return static_cast<size_t>(std::clamp<long>(n, 0, 4096));
  }();
  return g;
}

int64_t guard_violations() { return violations().load(); }

// The CPU backend's memory (backend_cpu.cpp): 64-byte alignment for vector
// loads, and at least one line so data is never null. With
// CADENZA_GUARD_BYTES=N (tests), N bytes of a pattern follow every buffer
// and are checked when it is released: a kernel that writes past its output
// is counted and named on stderr.
static size_t host_block(size_t bytes) { return BlockCache::round((bytes == 0 ? 1 : bytes) + guard_bytes()); }

void* host_allocate(size_t bytes, int) {
  const size_t g = guard_bytes();
  auto* p = static_cast<unsigned char*>(block_cache().get(host_block(bytes)));
  if (p && g) std::memset(p + bytes, kGuard, g);
  return p;
}
void host_release(void* p, size_t bytes, int) {
  const size_t g = guard_bytes();
  if (g) {
    const auto* q = static_cast<const unsigned char*>(p) + bytes;
    for (size_t i = 0; i < g; ++i)
      if (q[i] != kGuard) {
        ++violations();
        std::fprintf(stderr, "cadenza: the %zu guard bytes after a %zu-byte buffer were overwritten (byte %zu)\n", g,
                     bytes, i);
        break;
      }
  }
  block_cache().put(p, host_block(bytes));
}
void host_empty_cache() { block_cache().clear(); }

}  // namespace backend

void empty_cache() {
  for (const backend::Backend* b : backend::available_backends())
    if (b->memory.empty_cache) b->memory.empty_cache();
}

void synchronize(Device device) {
  const backend::Backend& b = backend::backend_for(device);
  if (b.memory.synchronize) b.memory.synchronize(device.index);
}

// Every allocation goes through the backend of its device.
Storage::Storage(size_t n, Device dev) : nbytes(n), device(dev) {
  const backend::Backend& b = backend::backend_for(dev);
  data = b.memory.allocate(n, dev.index);
  if (!data)
    throw Error("Storage: out of memory allocating " + std::to_string(n) + " bytes on " + dev.str());
}

Storage::~Storage() { backend::backend_for(device).memory.release(data, nbytes, device.index); }

// ---------------------------------------------------------------- factories

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (auto d : shape)
    if (d < 0) throw Error("Tensor::empty: negative dimension in shape " + shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(shape_numel(shape) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(impl);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  backend::backend_for(device).memory.zero(t.raw_data(), t.numel() * dtype_size(dtype), device.index);
  return t;
}
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, DType::i64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  return dtype == DType::i64 ? t : t.to(dtype);
}

Tensor Tensor::from_data(const void* data, const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (t.numel() > 0) std::memcpy(t.raw_data(), data, t.numel() * dtype_size(dtype));
  return t;
}

// ---------------------------------------------------------------- metadata

static TensorImpl& need(const std::shared_ptr<TensorImpl>& p) {
  if (!p) throw Error("use of an undefined tensor");
  return *p;
}

const Shape& Tensor::shape() const { return need(impl_).shape; }
const Shape& Tensor::strides() const { return need(impl_).strides; }
int64_t Tensor::numel() const { return shape_numel(shape()); }
int64_t Tensor::offset() const { return need(impl_).offset; }
DType Tensor::dtype() const { return need(impl_).dtype; }
Device Tensor::device() const { return need(impl_).storage->device; }
const std::shared_ptr<Storage>& Tensor::storage() const { return need(impl_).storage; }

int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  if (d < -n || d >= n)
    throw Error("size(" + std::to_string(d) + "): dim out of range for shape " + shape_str(shape()));
  return shape()[d < 0 ? d + n : d];
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no element to be out of place (as PyTorch)
  const auto& sh = shape();
  const auto& st = strides();
  int64_t acc = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (sh[i] == 1) continue;
    if (st[i] != acc) return false;
    acc *= sh[i];
  }
  return true;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape());
}

void* Tensor::raw_data() const {
  auto& i = need(impl_);
  return static_cast<char*>(i.storage->data) + i.offset * dtype_size(i.dtype);
}

void Tensor::check_host(const char* op) const {
  if (device().kind != Device::cpu)
    throw Error(std::string(op) + "(): tensor " + str() + " is on " + device().str() +
                "; the host reads CPU tensors only (move it with to(Device{}) first)");
}

void Tensor::check_dtype(DType want, const char* op) const {
  if (dtype() != want)
    throw Error(std::string(op) + ": expected a " + dtype_name(want) + " tensor, got " + str());
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device{}).to(dtype_of<T>()).contiguous();
  const T* p = static_cast<const T*>(c.raw_data());
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

double Tensor::item() const {
  if (numel() != 1) throw Error("item(): tensor " + str() + " does not hold exactly one value");
  return to_vector<double>()[0];
}

// ---------------------------------------------------------------- autograd

bool Tensor::requires_grad() const { return need(impl_).requires_grad; }
Tensor& Tensor::requires_grad_(bool on) {
  if (on && !is_floating(dtype()))
    throw Error("requires_grad_: only floating tensors can require gradients, got " + str());
  if (!on && impl_->grad_fn)
    throw Error("requires_grad_(false) on a non-leaf tensor; use detach()");
  impl_->requires_grad = on;
  return *this;
}
bool Tensor::is_leaf() const { return need(impl_).grad_fn == nullptr; }
Tensor Tensor::grad() const { return need(impl_).grad; }
void Tensor::set_grad(const Tensor& g) const {
  if (g.defined() && g.shape() != shape())
    throw Error("set_grad: gradient " + g.str() + " does not match tensor " + str());
  need(impl_).grad = g;
}
void Tensor::zero_grad() const { need(impl_).grad = Tensor(); }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return need(impl_).grad_fn; }

void Tensor::backward(const Tensor& grad, bool retain_graph, bool create_graph) const {
  run_backward({*this}, {grad}, retain_graph, create_graph);
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage();
  impl->offset = offset();
  impl->shape = shape();
  impl->strides = strides();
  impl->dtype = dtype();
  return Tensor(impl);
}

// ---------------------------------------------------------------- in place

static void check_inplace(const Tensor& t, const char* op) {
  if (GradMode::enabled() && t.requires_grad())
    throw Error(std::string(op) + ": in-place change of " + t.str() +
                " which requires grad; wrap it in NoGradGuard");
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  Tensor s = src.expand(shape());
  if (s.device() != device())
    throw Error("copy_: the source is on " + s.device().str() + " and the destination on " + device().str() +
                "; move one with to(Device) first");
  CADENZA_KERNEL(copy_cast, device(), dtype())(s.dtype(), dtype(), static_cast<int>(dim()), shape().data(),
                     {s.raw_data(), s.strides().data()}, {raw_data(), strides().data()});
  return *this;
}

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  CADENZA_KERNEL(fill, device(), dtype())(dtype(), static_cast<int>(dim()), shape().data(), {raw_data(), strides().data()},
                value);
  return *this;
}

// ---------------------------------------------------------------- methods

Tensor Tensor::reshape(const Shape& s) const { return cadenza::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return cadenza::view(*this, s); }
Tensor Tensor::narrow(int64_t d, int64_t st, int64_t len) const {
  return cadenza::narrow(*this, d, st, len);
}
Tensor Tensor::select(int64_t d, int64_t i) const { return cadenza::select(*this, d, i); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return cadenza::transpose(*this, a, b); }
Tensor Tensor::permute(const std::vector<int64_t>& d) const { return cadenza::permute(*this, d); }
Tensor Tensor::expand(const Shape& s) const { return cadenza::expand(*this, s); }
Tensor Tensor::squeeze(int64_t d) const { return cadenza::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return cadenza::unsqueeze(*this, d); }
Tensor Tensor::flatten() const { return cadenza::flatten(*this); }
Tensor Tensor::contiguous() const { return cadenza::contiguous(*this); }
Tensor Tensor::clone() const { return cadenza::clone(*this); }
Tensor Tensor::to(DType d) const { return cadenza::to_dtype(*this, d); }
Tensor Tensor::to(Device d) const { return cadenza::to_device(*this, d); }
Tensor Tensor::sum(const std::vector<int64_t>& d, bool k) const { return cadenza::sum(*this, d, k); }
Tensor Tensor::mean(const std::vector<int64_t>& d, bool k) const {
  return cadenza::mean(*this, d, k);
}

}  // namespace cadenza
