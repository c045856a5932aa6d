#include "engine/nn.h"

#include <cmath>
#include <map>
#include <set>

#include "engine/autograd.h"

namespace cadenza::nn {

Tensor Module::forward(const Tensor&) {
  throw Error(type_name_ + " has no single-input forward(); call its own forward");
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  if (name.empty() || name.find('.') != std::string::npos)
    throw Error(type_name_ + ": invalid parameter name '" + name + "'");
  for (auto& p : params_)
    if (p.first == name) throw Error(type_name_ + ": parameter '" + name + "' registered twice");
  if (t.defined() && requires_grad) t.requires_grad_(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  if (!m) throw Error(type_name_ + ": child module '" + name + "' is null");
  for (auto& c : children_)
    if (c.first == name) throw Error(type_name_ + ": child module '" + name + "' registered twice");
  children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, bool params, bool buffers, bool recurse,
                     StateDict& out) const {
  if (params)
    for (auto& p : params_)
      if (p.second.defined()) out.emplace_back(prefix + p.first, p.second);
  if (buffers)
    for (auto& b : buffers_)
      if (b.second.defined()) out.emplace_back(prefix + b.first, b.second);
  if (recurse)
    for (auto& c : children_) c.second->collect(prefix + c.first + ".", params, buffers, true, out);
}

StateDict Module::named_parameters(bool recurse) const {
  StateDict out;
  collect("", true, false, recurse, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& p : named_parameters(recurse)) out.push_back(p.second);
  return out;
}

StateDict Module::named_buffers(bool recurse) const {
  StateDict out;
  collect("", false, true, recurse, out);
  return out;
}

StateDict Module::state_dict() const {
  // PyTorch order: per module, parameters then buffers, children after.
  StateDict out;
  collect("", true, true, false, out);
  for (auto& c : children_)
    for (auto& kv : c.second->state_dict()) out.emplace_back(c.first + "." + kv.first, kv.second);
  return out;
}

void Module::load_state_dict(const StateDict& sd, bool strict) {
  StateDict mine = state_dict();
  std::map<std::string, Tensor> given;
  for (auto& kv : sd) given[kv.first] = kv.second;
  std::vector<std::string> missing, unexpected;
  std::set<std::string> known;
  for (auto& kv : mine) {
    known.insert(kv.first);
    auto it = given.find(kv.first);
    if (it == given.end()) {
      missing.push_back(kv.first);
      continue;
    }
    if (it->second.shape() != kv.second.shape())
      throw Error("load_state_dict (" + type_name_ + "): size mismatch for " + kv.first +
                  ": the checkpoint has shape " + shape_str(it->second.shape()) +
                  ", the model expects " + shape_str(kv.second.shape()));
  }
  for (auto& kv : sd)
    if (!known.count(kv.first)) unexpected.push_back(kv.first);
  if (strict && (!missing.empty() || !unexpected.empty())) {
    std::string msg = "load_state_dict (" + type_name_ + "):";
    auto list = [](const std::vector<std::string>& v) {
      std::string s;
      for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + ("\"" + v[i] + "\"");
      return s;
    };
    if (!missing.empty()) msg += " missing keys: " + list(missing) + ".";
    if (!unexpected.empty()) msg += " unexpected keys: " + list(unexpected) + ".";
    throw Error(msg);
  }
  NoGradGuard ng;
  for (auto& kv : mine) {
    auto it = given.find(kv.first);
    if (it != given.end()) kv.second.copy_(it->second);
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.zero_grad();
}

namespace {

// Points t's handle at c's storage and layout (the dtype follows c), so
// every holder of the handle sees the converted tensor; the gradient goes.
void rebind(Tensor& t, const Tensor& c) {
  TensorImpl* impl = t.impl();
  impl->storage = c.storage();
  impl->offset = c.offset();
  impl->strides = c.strides();
  impl->dtype = c.dtype();
  impl->grad = Tensor();
}

}  // namespace

void Module::to(DType dtype) {
  StateDict all = state_dict();
  for (auto& kv : all) {
    Tensor& t = kv.second;
    if (!is_floating(t.dtype()) || t.dtype() == dtype) continue;
    Tensor c;
    {
      NoGradGuard ng;
      c = to_dtype(t, dtype).contiguous();
    }
    rebind(t, c);
  }
}

void Module::to(Device device) {
  for (auto& kv : state_dict()) {
    Tensor& t = kv.second;
    if (t.device() == device) continue;
    Tensor c;
    {
      NoGradGuard ng;
      c = t.detach().to(device).contiguous();
    }
    rebind(t, c);
  }
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& p : parameters()) n += p.numel();
  return n;
}

// ------------------------------------------------------------------ init

void uniform_init(Tensor& t, double lo, double hi, Generator* gen) {
  NoGradGuard ng;
  uniform_(t, lo, hi, gen);
}

void normal_init(Tensor& t, double mean, double std, Generator* gen) {
  NoGradGuard ng;
  normal_(t, mean, std, gen);
}

void kaiming_uniform_default(Tensor& w, Generator* gen) {
  int64_t fan_in = w.dim() > 1 ? w.numel() / w.shape()[0] : w.numel();
  double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  uniform_init(w, -bound, bound, gen);
}

// ------------------------------------------------------------------ layers

Linear::Linear(int64_t in, int64_t out, bool with_bias, DType dtype)
    : Module("Linear"), in_features(in), out_features(out) {
  if (in <= 0 || out <= 0)
    throw Error("Linear: features must be positive, got in=" + std::to_string(in) + " out=" + std::to_string(out));
  weight = Tensor::empty({out, in}, dtype);
  kaiming_uniform_default(weight);
  register_parameter("weight", weight);
  if (with_bias) {
    bias = Tensor::empty({out}, dtype);
    double bound = 1.0 / std::sqrt(static_cast<double>(in));
    uniform_init(bias, -bound, bound);
    register_parameter("bias", bias);
  }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

Conv1d::Conv1d(int64_t in, int64_t out, int64_t k, int64_t dil, int64_t pad, bool with_bias, bool causal_,
               DType dtype)
    : Module("Conv1d"), in_channels(in), out_channels(out), kernel_size(k), dilation(dil), padding(pad),
      causal(causal_) {
  if (in <= 0 || out <= 0 || k <= 0)
    throw Error("Conv1d: channels and kernel size must be positive, got in=" + std::to_string(in) +
                " out=" + std::to_string(out) + " kernel_size=" + std::to_string(k));
  if (dil <= 0 || pad < 0)
    throw Error("Conv1d: dilation must be >= 1 and padding >= 0, got dilation=" + std::to_string(dil) +
                " padding=" + std::to_string(pad));
  if (causal && pad != 0) throw Error("Conv1d: a causal convolution sets its own padding (got padding=" +
                                      std::to_string(pad) + ")");
  weight = Tensor::empty({out, in, k}, dtype);
  kaiming_uniform_default(weight);
  register_parameter("weight", weight);
  if (with_bias) {
    bias = Tensor::empty({out}, dtype);
    double bound = 1.0 / std::sqrt(static_cast<double>(in * k));
    uniform_init(bias, -bound, bound);
    register_parameter("bias", bias);
  }
}

Tensor Conv1d::forward(const Tensor& x) {
  if (causal) return conv1d(x, weight, bias, dilation, dilation * (kernel_size - 1), 0);
  return conv1d(x, weight, bias, dilation, padding, padding);
}

ConvNd::ConvNd(const char* type, int nd, int64_t in, int64_t out, std::vector<int64_t> k, std::vector<int64_t> st,
               std::vector<int64_t> pad, std::vector<int64_t> dil, bool with_bias, bool transposed, DType dtype)
    : Module(type), in_channels(in), out_channels(out), kernel_size(std::move(k)), stride(std::move(st)),
      padding(std::move(pad)), dilation(std::move(dil)) {
  if (in <= 0 || out <= 0)
    throw Error(std::string(type) + ": channels must be positive, got in=" + std::to_string(in) +
                " out=" + std::to_string(out));
  const size_t n = static_cast<size_t>(nd);
  if (kernel_size.size() != n || stride.size() != n || padding.size() != n || dilation.size() != n)
    throw Error(std::string(type) + ": kernel_size, stride, padding and dilation need " + std::to_string(nd) +
                " values each");
  for (size_t d = 0; d < n; ++d)
    if (kernel_size[d] <= 0 || stride[d] <= 0 || dilation[d] <= 0 || padding[d] < 0)
      throw Error(std::string(type) + ": kernel_size, stride and dilation must be positive and padding >= 0");
  Shape ws{transposed ? in : out, transposed ? out : in};
  ws.insert(ws.end(), kernel_size.begin(), kernel_size.end());
  weight = Tensor::empty(ws, dtype);
  kaiming_uniform_default(weight);  // fan_in = weight.size(1) * prod(kernel), as PyTorch
  register_parameter("weight", weight);
  if (with_bias) {
    bias = Tensor::empty({out}, dtype);
    double bound = 1.0 / std::sqrt(static_cast<double>(weight.numel() / ws[0]));
    uniform_init(bias, -bound, bound);
    register_parameter("bias", bias);
  }
}

Conv2d::Conv2d(int64_t in, int64_t out, std::vector<int64_t> k, std::vector<int64_t> st, std::vector<int64_t> pad,
               std::vector<int64_t> dil, bool with_bias, DType dtype)
    : ConvNd("Conv2d", 2, in, out, std::move(k), std::move(st), std::move(pad), std::move(dil), with_bias, false,
             dtype) {}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, stride, padding, dilation); }

Conv3d::Conv3d(int64_t in, int64_t out, std::vector<int64_t> k, std::vector<int64_t> st, std::vector<int64_t> pad,
               std::vector<int64_t> dil, bool with_bias, DType dtype)
    : ConvNd("Conv3d", 3, in, out, std::move(k), std::move(st), std::move(pad), std::move(dil), with_bias, false,
             dtype) {}

Tensor Conv3d::forward(const Tensor& x) { return conv3d(x, weight, bias, stride, padding, dilation); }

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, std::vector<int64_t> k, std::vector<int64_t> st,
                                 std::vector<int64_t> pad, std::vector<int64_t> opad, std::vector<int64_t> dil,
                                 bool with_bias, DType dtype)
    : ConvNd("ConvTranspose2d", 2, in, out, std::move(k), std::move(st), std::move(pad), std::move(dil), with_bias,
             true, dtype),
      output_padding(std::move(opad)) {}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return conv_transpose2d(x, weight, bias, stride, padding, output_padding, dilation);
}

ConvTranspose3d::ConvTranspose3d(int64_t in, int64_t out, std::vector<int64_t> k, std::vector<int64_t> st,
                                 std::vector<int64_t> pad, std::vector<int64_t> opad, std::vector<int64_t> dil,
                                 bool with_bias, DType dtype)
    : ConvNd("ConvTranspose3d", 3, in, out, std::move(k), std::move(st), std::move(pad), std::move(dil), with_bias,
             true, dtype),
      output_padding(std::move(opad)) {}

Tensor ConvTranspose3d::forward(const Tensor& x) {
  return conv_transpose3d(x, weight, bias, stride, padding, output_padding, dilation);
}

Embedding::Embedding(int64_t num, int64_t dim, int64_t padding_idx, DType dtype)
    : Module("Embedding"), num_embeddings(num), embedding_dim(dim) {
  if (num <= 0 || dim <= 0) throw Error("Embedding: sizes must be positive");
  weight = Tensor::empty({num, dim}, dtype);
  normal_init(weight, 0, 1);
  if (padding_idx >= 0) {
    if (padding_idx >= num) throw Error("Embedding: padding_idx out of range");
    NoGradGuard ng;
    weight.select(0, padding_idx).fill_(0);
  }
  register_parameter("weight", weight);
}

Tensor Embedding::forward(const Tensor& ids) { return embedding(weight, ids); }

Dropout::Dropout(double p_, Generator* gen) : Module("Dropout"), p(p_), gen_(gen) {
  if (!(p >= 0 && p <= 1)) throw Error("Dropout: p=" + std::to_string(p) + " is not in [0, 1]");
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), gen_); }

LayerNorm::LayerNorm(const Shape& shape, double eps_, bool affine, DType dtype)
    : Module("LayerNorm"), normalized_shape(shape), eps(eps_) {
  if (affine) {
    weight = Tensor::ones(shape, dtype);
    bias = Tensor::zeros(shape, dtype);
    register_parameter("weight", weight);
    register_parameter("bias", bias);
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  int64_t k = static_cast<int64_t>(normalized_shape.size());
  if (x.dim() < k ||
      !std::equal(normalized_shape.begin(), normalized_shape.end(), x.shape().end() - k))
    throw Error("LayerNorm: input " + x.str() + " does not end in normalized_shape " +
                shape_str(normalized_shape));
  std::vector<int64_t> dims;
  for (int64_t i = x.dim() - k; i < x.dim(); ++i) dims.push_back(i);
  Tensor mu = mean(x, dims, true);
  Tensor c = sub(x, mu);
  Tensor v = mean(mul(c, c), dims, true);
  Tensor y = mul(c, rsqrt(add(v, Tensor::scalar(eps, x.dtype()))));
  if (weight.defined()) y = add(mul(y, weight), bias);
  return y;
}

BatchNorm::BatchNorm(int64_t n, double eps_, double momentum_, bool affine_, bool track, DType dtype)
    : Module("BatchNorm"), num_features(n), eps(eps_), momentum(momentum_), affine(affine_),
      track_running_stats(track) {
  if (n <= 0) throw Error("BatchNorm: num_features must be positive, got " + std::to_string(n));
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({n}, dtype));
    bias = register_parameter("bias", Tensor::zeros({n}, dtype));
  }
  if (track) {
    running_mean = register_buffer("running_mean", Tensor::zeros({n}, dtype));
    running_var = register_buffer("running_var", Tensor::ones({n}, dtype));
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i64));
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  if (x.dim() < 2 || x.shape()[1] != num_features)
    throw Error("BatchNorm: input " + x.str() + " should be [B, " + std::to_string(num_features) + ", ...]");
  const bool batch_stats = is_training() || !track_running_stats;
  if (is_training() && track_running_stats) {
    if (num_batches_tracked.device() == Device{}) {
      num_batches_tracked.data<int64_t>()[0] += 1;
    } else {  // counted on its device
      NoGradGuard ng;
      num_batches_tracked.copy_(add(num_batches_tracked, Tensor::scalar(1.0, DType::i64)));
    }
  }
  return batch_norm(x, running_mean, running_var, weight, bias, batch_stats, momentum, eps);
}

Sequential::Sequential(std::vector<std::shared_ptr<Module>> mods) : Module("Sequential") {
  for (auto& m : mods) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> m) {
  register_module(std::to_string(mods_.size()), m);
  mods_.push_back(std::move(m));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& m : mods_) y = m->forward(y);
  return y;
}

}  // namespace cadenza::nn
