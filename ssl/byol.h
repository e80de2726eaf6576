#pragma once
// BYOL's target network: a copy of the online backbone and projector that never receives
// gradient and follows the online weights by an exponential moving average,
// ξ ← τ ξ + (1 − τ) θ, applied under no-grad after each optimizer step.
#include <memory>

#include "ssl/heads.h"

namespace sg {

class TargetNetwork {
 public:
  // Copies `online`'s weights; the constructor arguments must match online's.
  TargetNetwork(const SiameseNet& online, const std::string& arch, int64_t width, int64_t dim,
                int64_t pred_dim, bool cifar_stem);
  // Target projections (train-mode BatchNorm, as in BYOL), recorded by no graph.
  Tensor encode(const Tensor& x);
  void update(double tau);
  SiameseNet& net() { return *net_; }

 private:
  std::unique_ptr<SiameseNet> net_;               // its predictor is never used
  std::vector<std::pair<Tensor, Tensor>> pairs_;  // (target, online) parameters
};

// BYOL's schedule: τ rises from tau_base to 1 along a cosine over the run.
double byol_tau(double tau_base, int64_t step, int64_t total_steps);

}  // namespace sg
