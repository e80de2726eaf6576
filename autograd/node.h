#pragma once
// The recorded graph. Every differentiable op that runs with grad mode on and an input that
// requires grad attaches one Node to its output: the op's name, where each input's gradient
// goes, and a closure that turns the output's gradient into the inputs' gradients.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "engine/tensor.h"

namespace sg {

// A tensor an op keeps for its backward. It remembers the storage version at saving time so
// that an in-place write before backward is an error, not a silently wrong gradient.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  // Throws when the tensor was modified in place after it was saved.
  Tensor get(const std::string& op) const;

 private:
  Tensor tensor_;  // a detached alias: saving never keeps a graph alive
  uint64_t version_ = 0;
};

using Grads = std::vector<Tensor>;
// needs[i] says whether input i wants a gradient; the closure may leave the others undefined.
using BackwardFn = std::function<Grads(const Tensor& grad_output, const std::vector<bool>& needs)>;
// The same for an output gradient that arrived in pieces (one per consumer), given the pieces
// instead of their sum, for an op that fuses the sum into its own backward.
using BackwardOfSumFn =
    std::function<Grads(const std::vector<Tensor>& pieces, const std::vector<bool>& needs)>;

// Where one input's gradient goes: into the node that produced it, or into a leaf's .grad.
struct Edge {
  std::shared_ptr<Node> node;
  Tensor leaf;  // defined for leaves that require grad
  Shape shape;  // the input's shape, to check the gradient the closure returns
  // An input that takes no gradient because a detach() cut it: the node it was cut from
  // (weakly; for drawing the graph, autograd/graph_dot.h). Backward never follows it.
  std::weak_ptr<Node> cut_from;
  std::shared_ptr<Node> cut_kept;  // the same node, held only under GraphCaptureGuard
  bool needs_grad() const { return node != nullptr || leaf.defined(); }
};

struct Node {
  std::string name;
  std::vector<Edge> inputs;
  BackwardFn backward;
  BackwardOfSumFn backward_of_sum;  // optional (add_relu); without it the pieces are summed
  bool released = false;            // saved tensors freed by a backward without retain_graph
};

// True when an op on these inputs must be recorded.
bool should_record(const std::vector<Tensor>& inputs);

// Records `name` as the op that produced `output` from `inputs` (undefined inputs are allowed
// and get no gradient). Returns `output`, now requiring grad, or unchanged when nothing needs
// recording.
Tensor record(const char* name, const Tensor& output, const std::vector<Tensor>& inputs,
              BackwardFn backward);

}  // namespace sg
