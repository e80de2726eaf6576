#include "autograd/graph_dot.h"

#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "autograd/node.h"

namespace sg {

namespace {

// The graph reachable from a root node through input edges and through cuts (so the part
// behind a detach() is drawn too), in visiting order.
struct Walk {
  std::vector<const Node*> nodes;
  std::map<const Node*, int> id;
  std::set<std::pair<const Node*, const Node*>> cuts;  // (cut from, consumer)

  void visit(const Node* root) {
    std::vector<const Node*> stack{root};
    while (!stack.empty()) {
      const Node* n = stack.back();
      stack.pop_back();
      if (n == nullptr || id.count(n)) continue;
      id[n] = int(nodes.size());
      nodes.push_back(n);
      for (const Edge& e : n->inputs) {
        if (e.node) stack.push_back(e.node.get());
        if (auto cut = e.cut_from.lock()) {
          cuts.insert({cut.get(), n});
          stack.push_back(cut.get());
        }
      }
    }
  }
};

std::string escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string leaf_name(const Tensor& leaf, const NamedTensors& names) {
  for (const auto& [name, t] : names)
    if (t.defined() && (t.same(leaf) || (t.shares_storage_with(leaf) && t.shape() == leaf.shape())))
      return name;
  return "leaf " + shape_str(leaf.shape());
}

}  // namespace

std::string graph_to_dot(const Tensor& root, const NamedTensors& names, const DotOptions& o) {
  Walk w;
  w.visit(root.grad_fn().get());
  std::ostringstream dot;
  dot << "digraph autograd {\n"
      << "  rankdir=BT;\n"
      << "  node [fontname=\"Helvetica\", fontsize=11];\n"
      << "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  if (!o.title.empty())
    dot << "  labelloc=t; fontname=\"Helvetica\"; fontsize=14; label=\"" << escaped(o.title)
        << "\";\n";
  if (!root.grad_fn())
    dot << "  root [label=\"" << escaped(shape_str(root.shape()))
        << " (no graph: nothing here takes gradient)\", shape=plaintext];\n";
  else
    dot << "  loss [label=\"output " << escaped(shape_str(root.shape()))
        << "\", shape=plaintext];\n  n" << w.id[root.grad_fn().get()] << " -> loss;\n";
  std::map<std::string, int> leaves;  // leaf name -> id, each drawn once
  for (const Node* n : w.nodes) {
    int i = w.id[n];
    dot << "  n" << i << " [label=\"" << escaped(n->name) << "\", shape=box, style=rounded];\n";
    for (const Edge& e : n->inputs) {
      std::string shape = escaped(shape_str(e.shape));
      if (e.node) {
        dot << "  n" << w.id[e.node.get()] << " -> n" << i << " [label=\"" << shape << "\"];\n";
      } else if (e.leaf.defined()) {
        std::string name = leaf_name(e.leaf, names);
        auto [it, fresh] = leaves.emplace(name, int(leaves.size()));
        if (fresh)
          dot << "  l" << it->second << " [label=\"" << escaped(name)
              << "\", shape=ellipse, style=filled, fillcolor=\"#dbe9f6\"];\n";
        dot << "  l" << it->second << " -> n" << i << " [label=\"" << shape << "\"];\n";
      }
    }
  }
  for (const auto& [from, to] : w.cuts) {
    // The consumer's input shape at the cut, for the label.
    std::string shape;
    for (const Edge& e : to->inputs)
      if (e.cut_from.lock().get() == from) shape = shape_str(e.shape);
    dot << "  n" << w.id[from] << " -> n" << w.id[to]
        << " [style=dashed, color=\"#c0392b\", fontcolor=\"#c0392b\", penwidth=1.5, "
           "label=\"stop-gradient "
        << escaped(shape) << "\"];\n";
  }
  dot << "}\n";
  return dot.str();
}

int count_stop_gradient_cuts(const Tensor& root) {
  Walk w;
  w.visit(root.grad_fn().get());
  return int(w.cuts.size());
}

}  // namespace sg
