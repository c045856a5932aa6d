#pragma once
// nn: Module with registered parameters, buffers and children, hierarchical
// names ("layers.0.weight"), state_dict with strict checks, train/eval; and
// the basic layers with PyTorch's default initialisations.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/ops.h"
#include "engine/random.h"
#include "engine/tensor.h"

namespace cadenza::nn {

// Ordered (name, tensor) pairs, in PyTorch's order: a module's own
// parameters, then its buffers, then each child's, depth first.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Single-input modules override this; others provide their own forward.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  StateDict named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  StateDict named_buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const {
    return children_;
  }
  StateDict state_dict() const;
  // Copies values into the existing tensors (dtype converted). strict: every
  // name must match both ways. Shapes must always match.
  void load_state_dict(const StateDict& sd, bool strict = true);

  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  // Converts every floating parameter and buffer in place (handles stay valid).
  void to(DType dtype);
  // Moves every parameter and buffer to `device` in place (handles stay
  // valid; gradients are dropped).
  void to(Device device);
  int64_t num_parameters() const;
  const std::string& type_name() const { return type_name_; }

 protected:
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void collect(const std::string& prefix, bool params, bool buffers, bool recurse, StateDict& out) const;
  std::string type_name_;
  StateDict params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// y = x W^T + b. x: [..., in] -> [..., out]. W, b ~ U(-1/sqrt(in), 1/sqrt(in)).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  int64_t in_features, out_features;
};

// PyTorch's Conv1d (stride 1, one group) under its names and init: weight
// [out, in, K], bias [out], both U(+-1/sqrt(in * K)). `padding` zeros go on
// both sides, as in PyTorch; causal puts dilation * (K - 1) zeros on the left
// only, so output t sees inputs up to t and the length is kept.
// x: [B, in, T] -> [B, out, T + 2 * padding - dilation * (K - 1)] (causal: [B, out, T])
class Conv1d : public Module {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t dilation = 1,
         int64_t padding = 0, bool bias = true, bool causal = false, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  int64_t in_channels, out_channels, kernel_size, dilation, padding;
  bool causal;
};

// PyTorch's Conv2d / Conv3d (one group, zero padding) under its names and
// init: weight [out, in, k...], bias [out], both U(+-1/sqrt(in * prod(k))).
// x: [B, in, spatial...] -> [B, out, (s + 2 * padding - dilation * (k - 1) - 1) / stride + 1 ...]
class ConvNd : public Module {
 public:
  Tensor weight, bias;
  int64_t in_channels, out_channels;
  std::vector<int64_t> kernel_size, stride, padding, dilation;

 protected:
  ConvNd(const char* type, int nd, int64_t in_channels, int64_t out_channels, std::vector<int64_t> kernel_size,
         std::vector<int64_t> stride, std::vector<int64_t> padding, std::vector<int64_t> dilation, bool bias,
         bool transposed, DType dtype);
};

class Conv2d : public ConvNd {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, std::vector<int64_t> kernel_size,
         std::vector<int64_t> stride = {1, 1}, std::vector<int64_t> padding = {0, 0},
         std::vector<int64_t> dilation = {1, 1}, bool bias = true, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
};

class Conv3d : public ConvNd {
 public:
  Conv3d(int64_t in_channels, int64_t out_channels, std::vector<int64_t> kernel_size,
         std::vector<int64_t> stride = {1, 1, 1}, std::vector<int64_t> padding = {0, 0, 0},
         std::vector<int64_t> dilation = {1, 1, 1}, bool bias = true, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
};

// PyTorch's ConvTranspose2d / 3d: weight [in, out, k...], bias [out], both
// U(+-1/sqrt(out * prod(k))) (PyTorch's fan_in is the weight's dim 1).
// x: [B, in, s...] -> [B, out, (s - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1 ...]
class ConvTranspose2d : public ConvNd {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, std::vector<int64_t> kernel_size,
                  std::vector<int64_t> stride = {1, 1}, std::vector<int64_t> padding = {0, 0},
                  std::vector<int64_t> output_padding = {0, 0}, std::vector<int64_t> dilation = {1, 1},
                  bool bias = true, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  std::vector<int64_t> output_padding;
};

class ConvTranspose3d : public ConvNd {
 public:
  ConvTranspose3d(int64_t in_channels, int64_t out_channels, std::vector<int64_t> kernel_size,
                  std::vector<int64_t> stride = {1, 1, 1}, std::vector<int64_t> padding = {0, 0, 0},
                  std::vector<int64_t> output_padding = {0, 0, 0}, std::vector<int64_t> dilation = {1, 1, 1},
                  bool bias = true, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  std::vector<int64_t> output_padding;
};

// ids: integer [...] -> [..., dim]. Weight ~ N(0, 1); padding_idx row zero.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx = -1,
            DType dtype = DType::f32);
  Tensor forward(const Tensor& ids) override;
  Tensor weight;
  int64_t num_embeddings, embedding_dim;
};

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  double p;

 private:
  Generator* gen_;
};

// Normalises over the trailing dims in normalized_shape; weight 1, bias 0.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(const Shape& normalized_shape, double eps = 1e-5,
                     bool elementwise_affine = true, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  Shape normalized_shape;
  double eps;
};

// PyTorch's BatchNorm1d/2d/3d in one class: normalises dim 1 of [B, C, ...].
// Parameters weight (ones) and bias (zeros) when affine; buffers
// running_mean (zeros), running_var (ones) and num_batches_tracked (i64 0)
// when tracking. Training (or not tracking) uses the batch's statistics and
// updates the running ones; eval uses the running ones.
class BatchNorm : public Module {
 public:
  explicit BatchNorm(int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
                     bool track_running_stats = true, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  int64_t num_features;
  double eps, momentum;
  bool affine, track_running_stats;
};

// A module that only names its children ("layers.3", "private.0"), as
// PyTorch's ModuleList and ModuleDict do; it has no forward.
class ModuleDict : public Module {
 public:
  ModuleDict() : Module("ModuleDict") {}
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, std::move(m));
  }
};

// Children named "0", "1", ...; forward chains them.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(std::vector<std::shared_ptr<Module>> mods);
  void push_back(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return mods_.size(); }
  std::shared_ptr<Module> operator[](size_t i) const { return mods_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> mods_;
};

// Initialisers (in place, no history).
void uniform_init(Tensor& t, double lo, double hi, Generator* gen = nullptr);
void normal_init(Tensor& t, double mean, double std, Generator* gen = nullptr);
// PyTorch's kaiming_uniform_(a=sqrt(5)) for a [out, in, ...] weight: U(+-1/sqrt(fan_in)).
void kaiming_uniform_default(Tensor& w, Generator* gen = nullptr);

}  // namespace cadenza::nn
