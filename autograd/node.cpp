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

namespace {
// The cut an input carries (see Tensor::detached_from), if its node still exists.
std::shared_ptr<Node> cut_of(const Tensor& t) {
  return t.defined() && !t.requires_grad() ? t.detached_from().lock() : nullptr;
}
}  // namespace

Tensor record(const char* name, const Tensor& output, const std::vector<Tensor>& inputs,
              BackwardFn backward) {
  if (!should_record(inputs)) {
    // Math on a detached tensor is not recorded, but its result still comes from the cut:
    // carry the mark along so the graph can show where the stop-gradient was.
    if (!GradMode::is_enabled()) return output;
    for (const Tensor& t : inputs)
      if (auto cut = cut_of(t)) {
        Tensor out = output.detach();
        out.set_detached_from(cut);
        return out;
      }
    return output;
  }
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
    } else if (auto cut = cut_of(t)) {
      edge.shape = t.shape();
      edge.cut_from = cut;
      if (GraphCaptureGuard::is_enabled()) edge.cut_kept = cut;
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
