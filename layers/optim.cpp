#include "layers/optim.h"

#include "layers/checkpoint.h"

#include <cmath>
#include <numbers>

namespace sg {

Optimizer::Optimizer(std::vector<ParamGroup> groups, double momentum, bool nesterov)
    : groups_(std::move(groups)), momentum_(momentum), nesterov_(nesterov) {
  for (const auto& g : groups_) {
    std::vector<Tensor> bufs;
    for (const auto& [name, p] : g.params)
      bufs.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
    buffers_.push_back(std::move(bufs));
  }
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& group = groups_[gi];
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      const Tensor& p = group.params[pi].second;
      Tensor g = p.grad();
      if (!g.defined()) continue;
      engine::sgd_update(p, g, buffers_[gi][pi], group.lr, momentum_, group.weight_decay, nesterov_,
                         grad_scale(group, p, g));
    }
  }
  ++steps_;
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& [n, p] : g.params) p.set_grad(Tensor());
}

void Optimizer::set_lr(double lr) {
  for (auto& g : groups_)
    if (!g.fixed_lr) g.lr = lr;
}

NamedTensors Optimizer::state_dict() const {
  NamedTensors out;
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (size_t pi = 0; pi < groups_[gi].params.size(); ++pi)
      out.emplace_back(groups_[gi].params[pi].first + ".momentum_buffer", buffers_[gi][pi]);
  out.emplace_back("steps", Tensor::scalar(double(steps_), DType::Int64));
  return out;
}

void Optimizer::load_state_dict(const NamedTensors& state) {
  NamedTensors targets;
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (size_t pi = 0; pi < groups_[gi].params.size(); ++pi)
      targets.emplace_back(groups_[gi].params[pi].first + ".momentum_buffer", buffers_[gi][pi]);
  Tensor steps = Tensor::scalar(0, DType::Int64);
  targets.emplace_back("steps", steps);
  load_named(targets, state, "optimizer state");
  steps_ = int64_t(steps.item());
}

double LARS::grad_scale(const ParamGroup& group, const Tensor& param, const Tensor& grad) const {
  if (group.exclude_from_lars) return 1.0;
  double w = std::sqrt(engine::sum(engine::mul(param, param)).item());
  double g = std::sqrt(engine::sum(engine::mul(grad, grad)).item());
  if (w == 0 || g == 0) return 1.0;
  return eta_ * w / (g + group.weight_decay * w);
}

std::vector<ParamGroup> weight_and_norm_groups(const NamedTensors& params, double lr,
                                               double weight_decay) {
  ParamGroup weights{{}, lr, weight_decay, false, false}, norms{{}, lr, 0.0, false, true};
  for (const auto& np : params) (np.second.dim() <= 1 ? norms : weights).params.push_back(np);
  return {weights, norms};
}

double cosine_lr(double base_lr, int64_t step, int64_t total, int64_t warmup, double final_lr) {
  if (step < warmup) return base_lr * double(step + 1) / double(warmup);
  double t = total > warmup ? double(step - warmup) / double(total - warmup) : 1.0;
  return final_lr +
         (base_lr - final_lr) * 0.5 * (1 + std::cos(std::numbers::pi * std::min(t, 1.0)));
}

}  // namespace sg
