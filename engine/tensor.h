#pragma once
// Tensor: a strided view of shared storage, with dtype, device and the
// autograd fields (grad, grad_fn). Ops live in engine/ops.h.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/dtype.h"

namespace cadenza {

size_t dtype_size(DType t);
const char* dtype_name(DType t);
inline bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }
template <class T> DType dtype_of();
template <> inline DType dtype_of<float>() { return DType::f32; }
template <> inline DType dtype_of<double>() { return DType::f64; }
template <> inline DType dtype_of<int32_t>() { return DType::i32; }
template <> inline DType dtype_of<int64_t>() { return DType::i64; }

struct Device {
  enum Kind : uint8_t { cpu, cuda };
  Kind kind = cpu;
  int index = 0;
  std::string str() const;
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  // "cpu", "cuda" (cuda:0) or "cuda:N"; OptionError("device", ...) otherwise.
  static Device parse(const std::string& text);
};

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

// Thrown for every user-facing error of the engine: bad shapes, dtypes,
// devices, names. The message names the op and what was found.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An error in the value of one option or config field. `option` is the
// field's name ("warmup", "seq_len"), so a front end can name its own
// spelling of it: the command line adds the flag.
struct OptionError : Error {
  OptionError(std::string option_name, const std::string& what) : Error(what), option(std::move(option_name)) {}
  std::string option;
};

struct Storage {
  explicit Storage(size_t nbytes, Device device = {});
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
};

// Returns the large CPU blocks the allocator keeps for reuse to the system.
void empty_cache();
// Waits until the work queued on `device` is done, on every stream
// (torch.cuda.synchronize): for timing; reads of a device tensor's values
// wait for the current stream by themselves (engine/stream.h).
void synchronize(Device device);

struct Node;
struct TensorImpl;
struct LeafHooks;  // engine/autograd.h

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories ----
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = {});
  static Tensor scalar(double value, DType dtype = DType::f32);  // 0-d
  static Tensor arange(int64_t n, DType dtype = DType::i64);
  // Copies `data` (numel(shape) elements of dtype) into a new tensor.
  static Tensor from_data(const void* data, const Shape& shape, DType dtype);
  template <class T>
  static Tensor from_vector(const std::vector<T>& v, const Shape& shape) {
    if (static_cast<int64_t>(v.size()) != shape_numel(shape))
      throw Error("Tensor::from_vector: " + std::to_string(v.size()) +
                  " values do not fill shape " + shape_str(shape));
    return from_data(v.data(), shape, dtype_of<T>());
  }
  template <class T>
  static Tensor from_vector(const std::vector<T>& v) {
    return from_vector(v, Shape{static_cast<int64_t>(v.size())});
  }

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const;
  int64_t offset() const;  // in elements, into the storage
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  std::string str() const;  // "f32[2, 3]"
  const std::shared_ptr<Storage>& storage() const;
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // ---- data access ----
  // Element 0 of this view in its device's memory (a device pointer for a
  // CUDA tensor: for kernels, never for the host to read).
  void* raw_data() const;
  // The host's view of a CPU tensor; a tensor on another device throws
  // (move it with to(Device{}) first: host access stays explicit).
  template <class T> T* data() const {
    check_dtype(dtype_of<T>(), "data");
    check_host("data");
    return static_cast<T*>(raw_data());
  }
  template <class T> std::vector<T> to_vector() const;  // any layout, converts dtype
  double item() const;  // single-element tensors

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const;
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  void zero_grad() const;  // drops .grad, as PyTorch's set_to_none
  const std::shared_ptr<Node>& grad_fn() const;
  // Reverse-mode differentiation from this tensor. `grad` defaults to 1 for a
  // scalar. retain_graph keeps the saved tensors for another call;
  // create_graph records the backward pass so gradients can be differentiated.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;
  Tensor detach() const;  // shares storage, no history

  // ---- in place, never recorded (initialisation, optimizers) ----
  Tensor& copy_(const Tensor& src);  // broadcasts src, converts dtype
  Tensor& fill_(double value);

  // ---- method forms of common ops (engine/ops.h has the full list) ----
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten() const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  // A copy on `device` (this tensor when it is there already); differentiable.
  Tensor to(Device device) const;
  Tensor sum(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
  Tensor mean(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;

  void check_dtype(DType want, const char* op) const;
  void check_host(const char* op) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;
  Shape shape;
  Shape strides;
  DType dtype = DType::f32;
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  // A leaf's post-accumulate-grad hooks (null when it has none).
  std::shared_ptr<LeafHooks> hooks;
};

}  // namespace cadenza
