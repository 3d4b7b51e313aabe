// autograd.cpp — the reverse sweep: topological order, one backward call per node, += accumulation.
#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/ops.h"
#include "engine/profile.h"

namespace sg {

static thread_local bool g_grad_enabled = true;

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

Tensor attach_grad(Tensor out, const char* op, std::vector<Tensor> inputs, BackwardFn fn) {
  if (!g_grad_enabled) return out;
  bool any = false;
  for (const Tensor& t : inputs) any = any || t.requires_grad();
  if (!any) return out;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->backward = std::move(fn);
  out.impl()->grad_fn = node;
  out.impl()->requires_grad = true;
  return out;
}

void run_backward(const Tensor& root, const Tensor& grad_root) {
  SG_CHECK(root.defined(), "backward: undefined tensor");
  SG_CHECK(root.requires_grad(), "backward: the tensor does not require a gradient (no input of ",
           "the computation has requires_grad, or it was computed under NoGradGuard)");
  Tensor seed = grad_root;
  if (!seed.defined()) {
    SG_CHECK(root.numel() == 1, "backward: implicit gradient only for a scalar, got shape ",
             shape_str(root.shape()));
    seed = Tensor::ones(root.shape(), root.device());
  }
  check_same_shape(root, seed, "backward");

  profile::Region region("autograd sweep");
  // 1. Topological order of the tensors reachable through grad_fn edges (iterative DFS, so a
  //    deep network cannot overflow the stack). `order` ends with the root.
  std::vector<Tensor> order;
  std::unordered_set<TensorImpl*> seen;
  std::vector<std::pair<Tensor, size_t>> stack{{root, 0}};
  seen.insert(root.impl());
  while (!stack.empty()) {
    auto& [t, next] = stack.back();
    const auto& node = t.grad_fn();
    if (node && next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      if (in.defined() && in.requires_grad() && seen.insert(in.impl()).second)
        stack.push_back({in, 0});
    } else {
      order.push_back(t);
      stack.pop_back();
    }
  }

  // 2. Walk from the root back to the leaves; gradients of non-leaves are kept only until used.
  NoGradGuard no_grad;  // backward functions are not themselves differentiated
  std::unordered_map<TensorImpl*, Tensor> grads;
  grads[root.impl()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Tensor& t = *it;
    auto found = grads.find(t.impl());
    if (found == grads.end()) continue;  // no gradient flowed here
    Tensor g = found->second;
    grads.erase(found);
    const auto& node = t.grad_fn();
    if (!node) {  // a leaf: accumulate into .grad
      Tensor acc = t.grad();
      Tensor leaf = t;
      SG_PROFILE_OP("leaf gradients");
      // The first gradient becomes .grad as it is when nothing else holds it (no other handle, no
      // view of its storage): the copy would only cost a launch and a pass over it.
      const bool unshared = g.impl_ptr().use_count() == 1 && g.impl()->storage.use_count() == 1;
      leaf.set_grad(acc.defined() ? add(acc, g) : unshared ? g : g.clone());
      continue;
    }
    SG_CHECK(node->backward, "backward: the graph through '", node->op,
             "' was already freed by an earlier backward()");
    std::vector<Tensor> in_grads;
    {
      profile::OpScope scope(node->op.c_str(), /*backward=*/true);
      in_grads = node->backward(g);
    }
    SG_CHECK(in_grads.size() == node->inputs.size(), "backward of '", node->op, "' returned ",
             in_grads.size(), " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < in_grads.size(); ++i) {
      const Tensor& in = node->inputs[i];
      if (!in.defined() || !in.requires_grad() || !in_grads[i].defined()) continue;
      SG_CHECK(in_grads[i].shape() == in.shape(), "backward of '", node->op, "': gradient shape ",
               shape_str(in_grads[i].shape()), " does not match input ", i, " shape ",
               shape_str(in.shape()));
      auto slot = grads.find(in.impl());
      if (slot == grads.end())
        grads.emplace(in.impl(), in_grads[i]);
      else {
        SG_PROFILE_OP("gradient sums");
        // In place when nothing else can see the running sum: no other handle to it (another
        // input's slot, a backward's return value) and no view sharing its storage.
        Tensor& acc = slot->second;
        if (acc.impl_ptr().use_count() == 1 && acc.impl()->storage.use_count() == 1)
          add_into(acc, in_grads[i]);
        else
          acc = add(acc, in_grads[i]);
      }
    }
    // Free the graph: the saved tensors in the closure and the edges.
    node->backward = nullptr;
    node->inputs.clear();
  }
}

}  // namespace sg
