#include "layers/module.h"

namespace sg {

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  value.set_requires_grad(true);
  params_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  buffers_.emplace_back(name, value);
  return value;
}

void Module::collect(const std::string& prefix, bool params, bool buffers,
                     NamedTensors& out) const {
  if (params)
    for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  if (buffers)
    for (const auto& [n, t] : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, child] : children_) child->collect(prefix + n + ".", params, buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

// Per module: parameters, then buffers, then children — torchvision's state_dict order.
NamedTensors Module::state_dict() const {
  NamedTensors out;
  for (const auto& [n, t] : params_) out.emplace_back(n, t);
  for (const auto& [n, t] : buffers_) out.emplace_back(n, t);
  for (const auto& [n, child] : children_)
    for (auto& [cn, t] : child->state_dict()) out.emplace_back(n + "." + cn, t);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.set_grad(Tensor());
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (auto& t : parameters()) n += t.numel();
  return n;
}

void Module::to(Device device) {
  for (auto& [n, t] : state_dict()) t.set_data(engine::to(t, device));
}

void Module::to(DType dtype) {
  for (auto& [n, t] : state_dict())
    if (is_floating(t.dtype())) t.set_data(engine::to(t, dtype));
}

}  // namespace sg
