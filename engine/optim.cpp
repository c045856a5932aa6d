#include "engine/optim.h"
#include "engine/backend.h"

#include <cmath>
#include <map>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/cpu/optim.h"

namespace cadenza::optim {

namespace {

// The positions of `t` in groups of one device and dtype: each group in
// t's order, the groups in the order of their first tensors. The optimizer
// kernels take one group a call.
std::vector<std::vector<size_t>> same_device_and_dtype(const std::vector<Tensor>& t) {
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < t.size(); ++i) {
    std::vector<size_t>* g = nullptr;
    for (auto& candidate : groups)
      if (t[candidate[0]].device() == t[i].device() && t[candidate[0]].dtype() == t[i].dtype()) g = &candidate;
    if (g == nullptr) g = &groups.emplace_back();
    g->push_back(i);
  }
  return groups;
}

// The parameters with a gradient (their positions in `live`) and those
// gradients made contiguous; a parameter must be contiguous itself.
void with_gradients(const std::vector<Tensor>& params, const std::string& name, std::vector<size_t>& live,
                    std::vector<Tensor>& grads) {
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].grad().defined()) continue;
    if (!params[i].is_contiguous()) throw Error(name + ": parameter " + std::to_string(i) + " is not contiguous");
    live.push_back(i);
    grads.push_back(params[i].grad().contiguous());
  }
}

}  // namespace

Optimizer::Optimizer(std::vector<Tensor> params, double lr, const char* name)
    : params_(std::move(params)), lr_(lr), name_(name) {
  if (!(lr >= 0)) throw Error(name_ + ": learning rate must be >= 0, got " + std::to_string(lr));
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (!p.defined() || !p.requires_grad() || !p.is_leaf())
      throw Error(name_ + ": parameter " + std::to_string(i) + " must be a leaf tensor requiring grad");
    if (!is_floating(p.dtype())) throw Error(name_ + ": parameter " + std::to_string(i) + " is not floating");
  }
  slots_.resize(params_.size());
  param_steps_.assign(params_.size(), 0);
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

Tensor Optimizer::slot(size_t i, int which) {
  auto& s = slots_[i];
  if (s.size() <= static_cast<size_t>(which)) s.resize(which + 1);
  if (!s[which].defined()) s[which] = zeros_like(params_[i].detach());
  return s[which];
}

void Optimizer::to(Device device) {
  NoGradGuard ng;
  for (auto& per_param : slots_)
    for (Tensor& t : per_param)
      if (t.defined() && t.device() != device) t = t.to(device).contiguous();
}

nn::StateDict Optimizer::state_dict() const {
  nn::StateDict sd;
  sd.emplace_back("step", Tensor::from_vector<int64_t>({steps_}));
  sd.emplace_back("lr", Tensor::from_vector<double>({lr_}));
  for (size_t i = 0; i < slots_.size(); ++i)
    for (size_t k = 0; k < slots_[i].size() && k < slot_names_.size(); ++k)
      if (slots_[i][k].defined())
        sd.emplace_back("state." + std::to_string(i) + "." + slot_names_[k], slots_[i][k]);
  for (size_t i = 0; i < param_steps_.size(); ++i)
    if (param_steps_[i] > 0)
      sd.emplace_back("state." + std::to_string(i) + ".step",
                      Tensor::from_vector<int64_t>({param_steps_[i]}));
  return sd;
}

void Optimizer::load_state_dict(const nn::StateDict& sd) {
  std::map<std::string, Tensor> m(sd.begin(), sd.end());
  auto need = [&](const std::string& k) {
    auto it = m.find(k);
    if (it == m.end()) throw Error(name_ + ".load_state_dict: missing '" + k + "'");
    return it->second;
  };
  steps_ = static_cast<int64_t>(need("step").item());
  lr_ = need("lr").item();
  for (size_t i = 0; i < params_.size(); ++i)
    for (size_t k = 0; k < slot_names_.size(); ++k) {
      auto it = m.find("state." + std::to_string(i) + "." + slot_names_[k]);
      if (it == m.end()) continue;  // a parameter that never had a gradient
      if (it->second.shape() != params_[i].shape())
        throw Error(name_ + ".load_state_dict: state." + std::to_string(i) + "." + slot_names_[k] +
                    " has shape " + shape_str(it->second.shape()) + " but parameter " +
                    std::to_string(i) + " is " + params_[i].str());
      Tensor s = slot(i, static_cast<int>(k));
      NoGradGuard ng;
      s.copy_(it->second);
    }
  for (size_t i = 0; i < params_.size(); ++i) {
    auto it = m.find("state." + std::to_string(i) + ".step");
    param_steps_[i] = it == m.end() ? 0 : static_cast<int64_t>(it->second.item());
  }
  for (auto& kv : m) {
    const std::string& k = kv.first;
    if (k.rfind("state.", 0) != 0) continue;
    size_t idx = std::stoul(k.substr(6));
    if (idx >= params_.size())
      throw Error(name_ + ".load_state_dict: state for parameter " + std::to_string(idx) +
                  " but the optimizer has " + std::to_string(params_.size()) + " parameters");
  }
}

// ------------------------------------------------------------------ SGD

SGD::SGD(std::vector<Tensor> params, double lr, double momentum_, double dampening_,
         double weight_decay_, bool nesterov_)
    : Optimizer(std::move(params), lr, "SGD"),
      momentum(momentum_), dampening(dampening_), weight_decay(weight_decay_), nesterov(nesterov_) {
  if (nesterov && (momentum <= 0 || dampening != 0))
    throw Error("SGD: Nesterov momentum requires a momentum and zero dampening");
  slot_names_ = {"momentum_buffer"};
}

void SGD::step() {
  ++steps_;
  std::vector<size_t> live;
  std::vector<Tensor> grads;  // contiguous, alive until the kernels have run
  with_gradients(params_, name_, live, grads);
  for (const std::vector<size_t>& group : same_device_and_dtype(grads)) {
    std::vector<kernels::SgdTensor> list;
    for (size_t k : group) {
      const size_t i = live[k];
      Tensor& p = params_[i];
      void* buf = momentum != 0 ? slot(i, 0).raw_data() : nullptr;
      list.push_back({p.numel(), p.raw_data(), grads[k].raw_data(), buf, param_steps_[i]++ == 0});
    }
    const Tensor& p0 = params_[live[group[0]]];
    CADENZA_KERNEL(sgd_step, p0.device(), p0.dtype())
    (p0.dtype(), static_cast<int64_t>(list.size()), list.data(),
     {lr_, momentum, dampening, weight_decay, nesterov});
  }
}

// ------------------------------------------------------------------ Adam

Adam::Adam(std::vector<Tensor> params, double lr, double b1, double b2, double eps_, double wd)
    : Optimizer(std::move(params), lr, "Adam"), beta1(b1), beta2(b2), eps(eps_), weight_decay(wd) {
  if (!(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1))
    throw Error("Adam: betas must be in [0, 1), got " + std::to_string(b1) + ", " + std::to_string(b2));
  slot_names_ = {"exp_avg", "exp_avg_sq"};
}

void Adam::step() {
  ++steps_;
  std::vector<size_t> live;
  std::vector<Tensor> grads;  // contiguous, alive until the kernels have run
  with_gradients(params_, name_, live, grads);
  for (const std::vector<size_t>& group : same_device_and_dtype(grads)) {
    std::vector<kernels::AdamTensor> list;
    for (size_t k : group) {
      const size_t i = live[k];
      Tensor& p = params_[i];
      // Each parameter counts its own steps, as torch.optim does.
      list.push_back({p.numel(), p.raw_data(), grads[k].raw_data(), slot(i, 0).raw_data(),
                      slot(i, 1).raw_data(), ++param_steps_[i]});
    }
    const Tensor& p0 = params_[live[group[0]]];
    CADENZA_KERNEL(adam_step, p0.device(), p0.dtype())
    (p0.dtype(), static_cast<int64_t>(list.size()), list.data(),
     {lr_, beta1, beta2, eps, weight_decay, decoupled_});
  }
}

AdamW::AdamW(std::vector<Tensor> params, double lr, double b1, double b2, double eps, double wd)
    : Adam(std::move(params), lr, b1, b2, eps, wd) {
  decoupled_ = true;
  name_ = "AdamW";
}

// ------------------------------------------------------------------ clipping

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (!g.is_contiguous()) {
      g = g.contiguous();
      p.set_grad(g);
    }
    grads.push_back(g);
  }
  // One kernel call per (device, dtype) group, so a GPU synchronises once,
  // not once per tensor; the sums then add up in the parameters' order.
  const std::vector<std::vector<size_t>> groups = same_device_and_dtype(grads);
  std::vector<std::vector<int64_t>> ns(groups.size());  // each group's sizes and buffers, for both calls
  std::vector<std::vector<void*>> xs(groups.size());
  for (size_t gi = 0; gi < groups.size(); ++gi)
    for (size_t k : groups[gi]) {
      ns[gi].push_back(grads[k].numel());
      xs[gi].push_back(grads[k].raw_data());
    }
  std::vector<double> sums(grads.size(), 0.0);
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const std::vector<size_t>& group = groups[gi];
    std::vector<double> out(group.size());
    const Tensor& g0 = grads[group[0]];
    CADENZA_KERNEL(sum_squares, g0.device(), g0.dtype())
    (g0.dtype(), static_cast<int64_t>(group.size()), ns[gi].data(), xs[gi].data(), out.data());
    for (size_t k = 0; k < group.size(); ++k) sums[group[k]] = out[k];
  }
  double ss = 0;
  for (double s : sums) ss += s;
  double norm = std::sqrt(ss);
  double coef = max_norm / (norm + 1e-6);
  if (coef < 1)
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      const Tensor& g0 = grads[groups[gi][0]];
      CADENZA_KERNEL(scale_inplace, g0.device(), g0.dtype())
      (g0.dtype(), static_cast<int64_t>(groups[gi].size()), ns[gi].data(), xs[gi].data(), coef);
    }
  return norm;
}

// ------------------------------------------------------------------ schedules

StepLR::StepLR(double b, int64_t s, double g) : base_lr(b), gamma(g), step_size(s) {
  if (s <= 0) throw Error("StepLR: step_size must be positive");
}
double StepLR::lr_at(int64_t step) const {
  return base_lr * std::pow(gamma, static_cast<double>(step / step_size));
}

CosineLR::CosineLR(double b, int64_t total, double mn) : base_lr(b), min_lr(mn), total_steps(total) {
  if (total <= 0) throw Error("CosineLR: total_steps must be positive");
}
double CosineLR::lr_at(int64_t step) const {
  if (step >= total_steps) return min_lr;
  double t = static_cast<double>(step) / static_cast<double>(total_steps);
  return min_lr + 0.5 * (base_lr - min_lr) * (1 + std::cos(M_PI * t));
}

WarmupLR::WarmupLR(std::shared_ptr<Schedule> a, int64_t w) : after(std::move(a)), warmup_steps(w) {
  if (!after) throw Error("WarmupLR: no schedule to hand over to");
  if (w < 0) throw Error("WarmupLR: warmup_steps must be >= 0");
}
double WarmupLR::lr_at(int64_t step) const {
  if (step < warmup_steps)
    return after->lr_at(0) * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  return after->lr_at(step - warmup_steps);
}

}  // namespace cadenza::optim
