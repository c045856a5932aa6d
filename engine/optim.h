#pragma once
// Optimizers (torch.optim semantics), global-norm clipping and LR schedules.
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/tensor.h"

namespace cadenza::optim {

class Optimizer {
 public:
  Optimizer(std::vector<Tensor> params, double lr, const char* name);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();  // sets every .grad to none
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  int64_t step_count() const { return steps_; }
  // Per-parameter state as named tensors ("state.3.exp_avg", "step", "lr"),
  // so it travels in a safetensors checkpoint next to the model.
  virtual nn::StateDict state_dict() const;
  virtual void load_state_dict(const nn::StateDict& sd);
  // Moves the per-parameter state to `device` (after the parameters moved:
  // new state is made on each parameter's device).
  void to(Device device);
  const std::vector<Tensor>& params() const { return params_; }

 protected:
  // Per-parameter buffers of the parameter's shape and dtype, created zeroed.
  Tensor slot(size_t i, int which);
  std::vector<std::string> slot_names_;
  std::vector<Tensor> params_;
  std::vector<std::vector<Tensor>> slots_;
  std::vector<int64_t> param_steps_;  // updates each parameter has had
  double lr_;
  int64_t steps_ = 0;
  std::string name_;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, double dampening = 0,
      double weight_decay = 0, bool nesterov = false);
  void step() override;
  double momentum, dampening, weight_decay;
  bool nesterov;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8, double weight_decay = 0);
  void step() override;
  double beta1, beta2, eps, weight_decay;

 protected:
  bool decoupled_ = false;
};

// Adam with decoupled weight decay (default 1e-2, as torch.optim.AdamW).
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 1e-2);
};

// Scales all gradients so their global L2 norm is at most max_norm; returns
// the norm before clipping (torch.nn.utils.clip_grad_norm_).
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

// Learning-rate schedules: the LR to use at a 0-based step.
struct Schedule {
  virtual ~Schedule() = default;
  virtual double lr_at(int64_t step) const = 0;
};

// lr * gamma^(step / step_size)
struct StepLR : Schedule {
  StepLR(double base_lr, int64_t step_size, double gamma);
  double lr_at(int64_t step) const override;
  double base_lr, gamma;
  int64_t step_size;
};

// Cosine from base_lr to min_lr over total_steps, then min_lr.
struct CosineLR : Schedule {
  CosineLR(double base_lr, int64_t total_steps, double min_lr = 0);
  double lr_at(int64_t step) const override;
  double base_lr, min_lr;
  int64_t total_steps;
};

// Linear warmup from 0 to the inner schedule's value over warmup_steps, then
// the inner schedule shifted by the warmup.
struct WarmupLR : Schedule {
  WarmupLR(std::shared_ptr<Schedule> after, int64_t warmup_steps);
  double lr_at(int64_t step) const override;
  std::shared_ptr<Schedule> after;
  int64_t warmup_steps;
};

}  // namespace cadenza::optim
