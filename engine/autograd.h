#pragma once
// Define-by-run reverse-mode autograd. Every op that sees an input needing a
// gradient records a Node whose backward lambda is written next to the
// forward, in terms of other ops, so a backward pass run with create_graph is
// itself recorded and can be differentiated again.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace cadenza {

// grad_output -> one gradient per input (undefined where not needed).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Edge {
  std::shared_ptr<Node> fn;           // the input's own node, or
  std::shared_ptr<TensorImpl> leaf;   // the leaf tensor that accumulates .grad
  bool active() const { return fn != nullptr || leaf != nullptr; }
};

struct Node {
  std::string name;
  std::vector<Edge> next;
  BackwardFn backward;  // reset after use unless retain_graph
  Shape out_shape;
  DType out_dtype = DType::f32;
};

// Whether ops record history on this thread (PyTorch's grad mode).
struct GradMode {
  static bool enabled();
  static void set_enabled(bool on);
};

// Turns recording off for its scope (inference, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

class GradModeGuard {
 public:
  explicit GradModeGuard(bool on) : prev_(GradMode::enabled()) { GradMode::set_enabled(on); }
  ~GradModeGuard() { GradMode::set_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};

// True when recording is on and some input requires a gradient.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a node to `out` if any input needs a gradient; returns `out`.
Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs, BackwardFn fn);

// Runs the backward pass from `roots` with `grads` (same count).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph, bool create_graph);

// Runs right after a backward pass (run_backward, Tensor::backward) has
// accumulated a leaf's last gradient of the pass into its .grad, so the
// hook sees the .grad the optimizer will see (PyTorch's
// register_post_accumulate_grad_hook). Once per leaf and pass, however many
// edges reach the leaf; not for leaves the pass gives no gradient, and not
// for grad(), which leaves .grad alone. Leaves nearer the outputs come
// first: data parallelism starts reducing the last layers' gradients while
// backward still differentiates the first ones.
using PostAccumulateGradHook = std::function<void(const Tensor& leaf)>;

// A leaf's hooks, kept in its TensorImpl.
struct LeafHooks {
  std::vector<std::pair<uint64_t, PostAccumulateGradHook>> hooks;
  uint64_t next_id = 1;
};

// Removes one registered hook (PyTorch's RemovableHandle). Dropping the
// handle leaves the hook in place.
class HookHandle {
 public:
  HookHandle() = default;
  // Idempotent; a no-op once the leaf is gone.
  void remove();
  bool active() const;

 private:
  friend HookHandle register_post_accumulate_grad_hook(const Tensor& leaf,
                                                       PostAccumulateGradHook hook);
  std::weak_ptr<LeafHooks> hooks_;
  uint64_t id_ = 0;
};

// `leaf` must require grad and have no history (a parameter).
HookHandle register_post_accumulate_grad_hook(const Tensor& leaf, PostAccumulateGradHook hook);

// For each of `leaves`, whether the graph behind `roots` reaches it, so
// that a backward pass from them may give it a gradient; an unreached leaf
// surely gets none (what DistributedDataParallel's find_unused_parameters
// looks for).
std::vector<bool> reaches(const std::vector<Tensor>& roots, const std::vector<Tensor>& leaves);

// Gradients of `outputs` with respect to `inputs` (torch.autograd.grad): the
// inputs' .grad fields are left alone. Unreached inputs get undefined tensors
// unless allow_unused is false, in which case that is an error.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool create_graph = false, bool allow_unused = true);

}  // namespace cadenza
