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
    std::vector<double> scales = grad_scales(group);
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      const Tensor& p = group.params[pi].second;
      Tensor g = p.grad();
      if (!g.defined()) continue;
      engine::sgd_update(p, g, buffers_[gi][pi], group.lr, momentum_, weight_decay(group),
                         nesterov_, scales[pi]);
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

std::vector<double> LARS::grad_scales(const ParamGroup& group) const {
  std::vector<double> scales(group.params.size(), 1.0);
  if (group.exclude_from_lars) return scales;
  // ||w||^2 and ||g||^2 of every parameter, read back in one transfer: on a GPU that is one wait
  // for the device per group rather than two per parameter.
  std::vector<Tensor> squares;
  std::vector<size_t> with_grad;
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& w = group.params[i].second;
    Tensor g = w.grad();
    if (!g.defined()) continue;
    for (const Tensor& t : {w, g})
      squares.push_back(engine::to(engine::sum(engine::mul(t, t)), DType::Float64));
    with_grad.push_back(i);
  }
  if (with_grad.empty()) return scales;
  std::vector<double> sq = engine::stack(squares, 0).to_vector();
  for (size_t k = 0; k < with_grad.size(); ++k) {
    double w = std::sqrt(sq[2 * k]), g = std::sqrt(sq[2 * k + 1]);
    if (w > 0 && g > 0) scales[with_grad[k]] = eta_ * w / (g + group.weight_decay * w);
  }
  return scales;
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
