#pragma once
// SGD (momentum, weight decay, Nesterov) and LARS, over parameter groups that each carry their
// own learning rate and weight decay. A group with fixed_lr keeps its rate when a schedule
// sets the others (SimSiam's predictor).
#include <string>
#include <vector>

#include "layers/module.h"

namespace sg {

struct ParamGroup {
  NamedTensors params;
  double lr = 0.1;
  double weight_decay = 0;
  bool fixed_lr = false;
  // LARS only: no trust-ratio adaptation and no weight decay (BatchNorm and bias parameters).
  bool exclude_from_lars = false;
};

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, double momentum, bool nesterov);
  virtual ~Optimizer() = default;
  void step();  // skips parameters without a gradient
  void zero_grad();
  void set_lr(double lr);  // every group but the fixed_lr ones
  std::vector<ParamGroup>& groups() { return groups_; }
  int64_t steps() const { return steps_; }

  // Momentum buffers, named "<parameter>.momentum_buffer", plus the step count.
  NamedTensors state_dict() const;
  // Checks every name and shape, naming each mismatch.
  void load_state_dict(const NamedTensors& state);

 protected:
  // Per parameter of the group, the factor its decayed gradient is scaled by before momentum
  // (1 for SGD; parameters without a gradient are skipped whatever their factor).
  virtual std::vector<double> grad_scales(const ParamGroup& group) const = 0;
  // The weight decay the group's parameters get (the group's own for SGD).
  virtual double weight_decay(const ParamGroup& group) const { return group.weight_decay; }

 private:
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<Tensor>> buffers_;  // per group, per parameter
  double momentum_;
  bool nesterov_;
  int64_t steps_ = 0;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, double momentum = 0.9, bool nesterov = false)
      : Optimizer(std::move(groups), momentum, nesterov) {}

 protected:
  std::vector<double> grad_scales(const ParamGroup& group) const override {
    return std::vector<double>(group.params.size(), 1.0);
  }
};

// Layer-wise adaptive rate scaling (You et al. 2017): each parameter's step is scaled by
// trust = eta * ||w|| / (||g|| + weight_decay * ||w||).
class LARS : public Optimizer {
 public:
  LARS(std::vector<ParamGroup> groups, double momentum = 0.9, double eta = 0.02)
      : Optimizer(std::move(groups), momentum, false), eta_(eta) {}

 protected:
  std::vector<double> grad_scales(const ParamGroup& group) const override;
  // Excluded groups (BatchNorm and biases) get neither trust ratio nor weight decay.
  double weight_decay(const ParamGroup& group) const override {
    return group.exclude_from_lars ? 0.0 : group.weight_decay;
  }

 private:
  double eta_;
};

// Splits a module's parameters into the usual two groups: weights, and the 1-D BatchNorm and
// bias parameters (no weight decay, excluded from LARS).
std::vector<ParamGroup> weight_and_norm_groups(const NamedTensors& params, double lr,
                                               double weight_decay);

// Learning rate at `step` of `total`: linear warm-up from 0 over `warmup` steps, then cosine
// decay from base_lr to final_lr.
double cosine_lr(double base_lr, int64_t step, int64_t total, int64_t warmup = 0,
                 double final_lr = 0);

}  // namespace sg
