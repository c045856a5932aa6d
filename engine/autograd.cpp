#include "engine/autograd.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "engine/ops.h"

namespace cadenza {

namespace {
thread_local bool g_grad_enabled = true;
}

bool GradMode::enabled() { return g_grad_enabled; }
void GradMode::set_enabled(bool on) { g_grad_enabled = on; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs, BackwardFn fn) {
  if (!needs_grad(inputs)) return out;
  for (const Tensor& in : inputs)
    if (in.defined() && in.impl() == out.impl()) {
      out = out.detach();  // never rewrite an input's own history
      break;
    }
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(fn);
  node->out_shape = out.shape();
  node->out_dtype = out.dtype();
  node->next.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& in = inputs[i];
    if (!in.defined() || !in.requires_grad()) continue;
    if (in.grad_fn())
      node->next[i].fn = in.grad_fn();
    else
      node->next[i].leaf = in.impl_ptr();
  }
  out.impl()->grad_fn = node;
  out.impl()->requires_grad = true;
  return out;
}

namespace {

// Where gradients end up: accumulated into leaves' .grad, or captured for
// autograd::grad's inputs.
struct Targets {
  std::unordered_map<const Node*, size_t> nodes;
  std::unordered_map<const TensorImpl*, size_t> leaves;
  std::vector<Tensor> found;
};

void add_into(Tensor& slot, const Tensor& g) { slot = slot.defined() ? add(slot, g) : g; }

// Whether g is the only tensor on its memory, and all of it: a gradient
// no op kept or handed to another input, which a leaf may then take as its
// .grad without a copy (PyTorch's AccumulateGrad steals such a gradient).
bool sole_owner(const Tensor& g) {
  const std::shared_ptr<Storage>& st = g.storage();
  return g.impl_ptr().use_count() == 1 && st && st.use_count() == 1 && g.is_contiguous() && g.offset() == 0 &&
         st->nbytes == static_cast<size_t>(g.numel()) * dtype_size(g.dtype());
}

// g: moved in by the caller, so that a gradient nothing else holds is taken
// as it is.
void accumulate_leaf(TensorImpl* leaf, Tensor g, bool create_graph) {
  if (g.shape() != leaf->shape)
    throw Error("autograd: gradient " + g.str() + " does not match leaf of shape " +
                shape_str(leaf->shape));
  if (!create_graph) g = g.detach();
  if (!leaf->grad.defined()) {
    // The leaf owns its .grad, so optimizers and clipping may change it in
    // place: it takes g itself only when nothing else can see g's memory.
    if (create_graph)
      leaf->grad = g;
    else if (sole_owner(g))
      leaf->grad = std::move(g);
    else
      leaf->grad = clone(g).detach();
  } else {
    leaf->grad = add(leaf->grad, g);
    if (!create_graph) leaf->grad = leaf->grad.detach();
  }
}

std::vector<Node*> topo_order(const std::vector<Node*>& roots) {
  std::vector<Node*> post;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack;
  for (Node* r : roots) {
    if (!r || seen.count(r)) continue;
    seen.insert(r);
    stack.push_back({r, 0});
    while (!stack.empty()) {
      auto& [n, i] = stack.back();
      if (i < n->next.size()) {
        Node* child = n->next[i++].fn.get();
        if (child && !seen.count(child)) {
          seen.insert(child);
          stack.push_back({child, 0});
        }
      } else {
        post.push_back(n);
        stack.pop_back();
      }
    }
  }
  return std::vector<Node*>(post.rbegin(), post.rend());
}

bool has_hooks(const TensorImpl* leaf) {
  return leaf->hooks && !leaf->hooks->hooks.empty();
}

// When each hooked leaf's gradient is final in one pass: a leaf's .grad is
// final once every edge into it has been passed, whether or not that edge
// carried a gradient (a node may give none, or get none and be skipped).
class LeafReadiness {
 public:
  // Counts the edges into hooked leaves: those of `order`'s nodes, and the
  // roots that are leaves themselves (`root_leaves`, accumulated already).
  LeafReadiness(const std::vector<Node*>& order,
                const std::vector<std::shared_ptr<TensorImpl>>& root_leaves) {
    for (Node* n : order)
      for (const Edge& e : n->next)
        if (e.leaf && has_hooks(e.leaf.get())) ++state_[e.leaf.get()].remaining;
    for (const auto& leaf : root_leaves) {
      if (!has_hooks(leaf.get())) continue;
      State& s = state_[leaf.get()];
      s.got = true;
      if (s.remaining == 0 && !s.fired) fire(leaf, s);
    }
  }
  bool any() const { return !state_.empty(); }
  // Edge `e` of a node has been passed; `got` when it accumulated a gradient.
  void passed(const Edge& e, bool got) {
    if (!e.leaf) return;
    auto it = state_.find(e.leaf.get());
    if (it == state_.end()) return;
    State& s = it->second;
    s.got = s.got || got;
    if (--s.remaining == 0 && s.got && !s.fired) fire(e.leaf, s);
  }

 private:
  struct State {
    int64_t remaining = 0;
    bool got = false, fired = false;
  };
  static void fire(const std::shared_ptr<TensorImpl>& leaf, State& s) {
    s.fired = true;
    // A copy: a hook may remove itself or register another.
    std::vector<std::pair<uint64_t, PostAccumulateGradHook>> hooks = leaf->hooks->hooks;
    Tensor t(leaf);
    for (auto& h : hooks) h.second(t);
  }
  std::unordered_map<const TensorImpl*, State> state_;
};

void engine(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph,
            bool create_graph, Targets* targets) {
  if (roots.size() != grads.size())
    throw Error("backward: " + std::to_string(roots.size()) + " outputs but " +
                std::to_string(grads.size()) + " gradients");
  GradModeGuard mode(create_graph);
  std::unordered_map<Node*, Tensor> pending;
  std::vector<Node*> root_nodes;
  std::vector<std::shared_ptr<TensorImpl>> root_leaves;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    if (!r.requires_grad())
      throw Error("backward: output " + r.str() + " does not require grad (no input requires it)");
    Tensor g = grads[i];
    if (!g.defined()) {
      if (r.numel() != 1)
        throw Error("backward: gradient can be implied only for a one-element output, got " +
                    r.str());
      g = Tensor::ones(r.shape(), r.dtype(), r.device());
    } else if (g.shape() != r.shape()) {
      throw Error("backward: gradient " + g.str() + " does not match output " + r.str());
    }
    if (r.grad_fn()) {
      add_into(pending[r.grad_fn().get()], g);
      root_nodes.push_back(r.grad_fn().get());
    } else if (targets) {
      auto it = targets->leaves.find(r.impl());
      if (it != targets->leaves.end()) add_into(targets->found[it->second], g);
    } else {
      accumulate_leaf(r.impl(), g, create_graph);
      root_leaves.push_back(r.impl_ptr());
    }
  }
  const std::vector<Node*> order = topo_order(root_nodes);
  // grad() leaves .grad alone, and so its hooks.
  LeafReadiness ready = targets ? LeafReadiness({}, {}) : LeafReadiness(order, root_leaves);
  for (Node* node : order) {
    auto it = pending.find(node);
    if (it == pending.end()) {
      if (ready.any())
        for (const Edge& e : node->next) ready.passed(e, false);
      continue;
    }
    Tensor g = std::move(it->second);
    pending.erase(it);
    if (targets) {
      auto t = targets->nodes.find(node);
      if (t != targets->nodes.end()) add_into(targets->found[t->second], g);
    }
    if (!node->backward)
      throw Error("backward through the graph a second time (at op '" + node->name +
                  "'): its saved tensors were freed; pass retain_graph=true the first time");
    std::vector<Tensor> in_grads = node->backward(g);
    if (!retain_graph) node->backward = nullptr;
    if (in_grads.size() != node->next.size())
      throw Error("autograd: op '" + node->name + "' returned the wrong number of gradients");
    std::vector<bool> to_leaf(in_grads.size(), false);  // gradients moved into a leaf
    for (size_t k = 0; k < in_grads.size(); ++k) {
      const Edge& e = node->next[k];
      if (!e.active() || !in_grads[k].defined()) continue;
      if (e.fn) {
        if (in_grads[k].shape() != e.fn->out_shape)
          throw Error("autograd: op '" + node->name + "' gave gradient " + in_grads[k].str() +
                      " for an input of shape " + shape_str(e.fn->out_shape));
        add_into(pending[e.fn.get()], in_grads[k]);
      } else if (targets) {
        auto t = targets->leaves.find(e.leaf.get());
        if (t != targets->leaves.end()) add_into(targets->found[t->second], in_grads[k]);
      } else {
        accumulate_leaf(e.leaf.get(), std::move(in_grads[k]), create_graph);
        in_grads[k] = Tensor();
        to_leaf[k] = true;
      }
    }
    if (ready.any())
      for (size_t k = 0; k < node->next.size(); ++k)
        ready.passed(node->next[k], to_leaf[k] || in_grads[k].defined());
  }
}

}  // namespace

HookHandle register_post_accumulate_grad_hook(const Tensor& leaf, PostAccumulateGradHook hook) {
  if (!leaf.defined() || !leaf.requires_grad() || leaf.grad_fn())
    throw Error("register_post_accumulate_grad_hook: " +
                (leaf.defined() ? leaf.str() : std::string("an undefined tensor")) +
                " is not a leaf that requires grad (a parameter)");
  if (!hook) throw Error("register_post_accumulate_grad_hook: an empty hook");
  TensorImpl* impl = leaf.impl();
  if (!impl->hooks) impl->hooks = std::make_shared<LeafHooks>();
  HookHandle h;
  h.hooks_ = impl->hooks;
  h.id_ = impl->hooks->next_id++;
  impl->hooks->hooks.emplace_back(h.id_, std::move(hook));
  return h;
}

void HookHandle::remove() {
  if (auto hooks = hooks_.lock()) {
    auto& v = hooks->hooks;
    v.erase(std::remove_if(v.begin(), v.end(), [&](const auto& h) { return h.first == id_; }),
            v.end());
  }
  hooks_.reset();
}

bool HookHandle::active() const {
  auto hooks = hooks_.lock();
  if (!hooks) return false;
  for (const auto& h : hooks->hooks)
    if (h.first == id_) return true;
  return false;
}

std::vector<bool> reaches(const std::vector<Tensor>& roots, const std::vector<Tensor>& leaves) {
  std::unordered_set<const TensorImpl*> found;
  std::unordered_set<const Node*> seen;
  std::vector<const Node*> stack;
  for (const Tensor& r : roots) {
    if (!r.defined() || !r.requires_grad()) continue;
    if (!r.grad_fn()) {
      found.insert(r.impl());
    } else if (seen.insert(r.grad_fn().get()).second) {
      stack.push_back(r.grad_fn().get());
    }
  }
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next) {
      if (e.leaf) found.insert(e.leaf.get());
      if (e.fn && seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }
  std::vector<bool> out(leaves.size());
  for (size_t i = 0; i < leaves.size(); ++i)
    out[i] = leaves[i].defined() && found.count(leaves[i].impl()) > 0;
  return out;
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph, bool create_graph) {
  engine(roots, grads, retain_graph, create_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph,
                         bool create_graph, bool allow_unused) {
  Targets t;
  t.found.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad())
      throw Error("grad: input " + std::to_string(i) + " (" + inputs[i].str() +
                  ") does not require grad");
    if (inputs[i].grad_fn())
      t.nodes[inputs[i].grad_fn().get()] = i;
    else
      t.leaves[inputs[i].impl()] = i;
  }
  std::vector<Tensor> gouts = grad_outputs;
  if (gouts.empty()) gouts.resize(outputs.size());
  engine(outputs, gouts, retain_graph, create_graph, &t);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!t.found[i].defined() && !allow_unused)
      throw Error("grad: input " + std::to_string(i) + " was not used to compute the outputs");
    if (t.found[i].defined() && !create_graph) t.found[i] = t.found[i].detach();
  }
  return t.found;
}

}  // namespace cadenza
