#include "autograd/backward.h"

#include <unordered_map>
#include <unordered_set>

#include "autograd/node.h"
#include "engine/ops.h"

namespace sg {

namespace {

// The gradient of one node's output so far: summed as the pieces arrive, or kept as pieces for
// a node whose backward takes them (Node::backward_of_sum).
void accumulate(std::vector<Tensor>& pieces, const Tensor& g, const Node& receiver) {
  if (pieces.empty() || receiver.backward_of_sum)
    pieces.push_back(g);
  else
    pieces[0] = engine::add(pieces[0], g);
}

// Takes g by value so that a gradient nobody else holds can be adopted as it is.
void accumulate_into_leaf(const Tensor& leaf, Tensor g) {
  // The gradient may alias a tensor the user still holds (or a saved one), so it is copied;
  // a fresh, compact one that only we reach is adopted instead (one whole copy of every
  // parameter's gradient per step saved). A second one (a Siamese step's other view) is added
  // into such a fresh one, which then replaces the sum so far: no third buffer is written.
  bool ours = g.is_sole_compact_owner();
  Tensor current = leaf.grad();
  if (!current.defined()) return leaf.set_grad(ours ? std::move(g) : engine::clone(g));
  if (!ours) return leaf.set_grad(engine::add(current, g));
  engine::add_(g, current);
  leaf.set_grad(std::move(g));
}

// Nodes reachable from root, each after every node that consumes its output.
std::vector<Node*> topological_order(Node* root) {
  std::unordered_map<Node*, int> pending;  // consumers not yet processed
  std::vector<Node*> stack{root};
  std::unordered_set<Node*> seen{root};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->inputs) {
      if (!e.node) continue;
      ++pending[e.node.get()];
      if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
    }
  }
  std::vector<Node*> order, ready{root};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    order.push_back(n);
    for (const Edge& e : n->inputs)
      if (e.node && --pending[e.node.get()] == 0) ready.push_back(e.node.get());
  }
  return order;
}

}  // namespace

void backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  backward(root, LeafReady(), grad, retain_graph);
}

void backward(const Tensor& root, const LeafReady& leaf_ready, const Tensor& grad,
              bool retain_graph) {
  SG_CHECK(root.defined(), "backward() on an undefined tensor");
  SG_CHECK(root.requires_grad(),
           "backward() on a tensor that does not require grad and has no "
           "grad_fn: was it computed under NoGradGuard, or from detached inputs only?");
  Tensor seed = grad;
  if (!seed.defined()) {
    SG_CHECK(root.numel() == 1, "backward() on a non-scalar output of shape ",
             shape_str(root.shape()), " needs an explicit gradient of that shape");
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  SG_CHECK(seed.shape() == root.shape(), "backward(): gradient of shape ", shape_str(seed.shape()),
           " for an output of shape ", shape_str(root.shape()));

  NoGradGuard no_grad;
  if (!root.grad_fn()) {
    accumulate_into_leaf(root, seed);
    if (leaf_ready) leaf_ready(root);
    return;
  }
  std::vector<Node*> order = topological_order(root.grad_fn().get());
  // For leaf_ready: how many edges of the graph still lead to each leaf.
  std::unordered_map<const void*, int> leaf_uses;
  if (leaf_ready)
    for (Node* node : order)
      for (const Edge& e : node->inputs)
        if (!e.node && e.needs_grad()) ++leaf_uses[e.leaf.id()];
  auto used_once_more = [&](const Node* node) {
    if (!leaf_ready) return;
    for (const Edge& e : node->inputs)
      if (!e.node && e.needs_grad() && --leaf_uses[e.leaf.id()] == 0) leaf_ready(e.leaf);
  };
  std::unordered_map<Node*, std::vector<Tensor>> grads{{root.grad_fn().get(), {seed}}};
  for (Node* node : order) {
    SG_CHECK(!node->released, "backward through '", node->name,
             "' a second time: its saved tensors were freed by the first backward; pass "
             "retain_graph=true to the first call");
    std::vector<Tensor> pieces = std::move(grads[node]);
    grads.erase(node);
    if (pieces.empty()) {  // no path from root carried a gradient here
      used_once_more(node);
      continue;
    }
    std::vector<bool> needs;
    for (const Edge& e : node->inputs) needs.push_back(e.needs_grad());
    Grads input_grads =
        pieces.size() > 1 ? node->backward_of_sum(pieces, needs) : node->backward(pieces[0], needs);
    pieces.clear();
    SG_CHECK(input_grads.size() == node->inputs.size(), "backward of '", node->name, "' returned ",
             input_grads.size(), " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      const Edge& e = node->inputs[i];
      Tensor& gi = input_grads[i];
      if (!e.needs_grad() || !gi.defined()) continue;
      SG_CHECK(gi.shape() == e.shape, "backward of '", node->name, "' gave input ", i,
               " a gradient of shape ", shape_str(gi.shape()), ", expected ", shape_str(e.shape));
      if (e.node)
        accumulate(grads[e.node.get()], gi, *e.node);
      else
        accumulate_into_leaf(e.leaf, std::move(gi));
    }
    used_once_more(node);
    if (!retain_graph) {
      node->backward = nullptr;
      node->backward_of_sum = nullptr;
      node->released = true;
    }
  }
}

}  // namespace sg
