#include "engine/autograd.h"

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

void accumulate_leaf(TensorImpl* leaf, Tensor g, bool create_graph) {
  if (g.shape() != leaf->shape)
    throw Error("autograd: gradient " + g.str() + " does not match leaf of shape " +
                shape_str(leaf->shape));
  if (!create_graph) g = g.detach();
  if (!leaf->grad.defined()) {
    // The leaf owns its .grad, so optimizers and clipping may change it in place.
    leaf->grad = create_graph ? g : contiguous(g).detach();
    if (!create_graph && leaf->grad.storage() == g.storage()) leaf->grad = clone(g).detach();
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

void engine(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph,
            bool create_graph, Targets* targets) {
  if (roots.size() != grads.size())
    throw Error("backward: " + std::to_string(roots.size()) + " outputs but " +
                std::to_string(grads.size()) + " gradients");
  GradModeGuard mode(create_graph);
  std::unordered_map<Node*, Tensor> pending;
  std::vector<Node*> root_nodes;
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
    }
  }
  for (Node* node : topo_order(root_nodes)) {
    auto it = pending.find(node);
    if (it == pending.end()) continue;
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
        accumulate_leaf(e.leaf.get(), in_grads[k], create_graph);
      }
    }
  }
}

}  // namespace

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
