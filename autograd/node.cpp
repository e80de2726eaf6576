#include "autograd/node.h"

namespace sg {

SavedTensor::SavedTensor(const Tensor& t)
    : tensor_(t.defined() ? t.detach() : Tensor()), version_(t.defined() ? t.version() : 0) {}

Tensor SavedTensor::get(const std::string& op) const {
  if (tensor_.defined())
    SG_CHECK(tensor_.version() == version_, "a tensor of shape ", shape_str(tensor_.shape()),
             " saved by '", op, "' for backward was modified in place afterwards (version ",
             version_, " when saved, ", tensor_.version(),
             " now): clone it before the in-place op, or use an out-of-place op");
  return tensor_;
}

bool should_record(const std::vector<Tensor>& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(const char* name, const Tensor& output, const std::vector<Tensor>& inputs,
              BackwardFn backward) {
  if (!should_record(inputs)) return output;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(backward);
  for (const Tensor& t : inputs) {
    Edge edge;
    if (t.defined() && t.requires_grad()) {
      edge.shape = t.shape();
      if (t.grad_fn())
        edge.node = t.grad_fn();
      else
        edge.leaf = t;
    }
    node->inputs.push_back(std::move(edge));
  }
  // A fresh handle: `output` may be a view shared with an untracked tensor.
  Tensor out = output.detach();
  out.set_requires_grad(true);
  out.set_grad_fn(std::move(node));
  return out;
}

}  // namespace sg
