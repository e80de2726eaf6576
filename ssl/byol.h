#pragma once
// BYOL's target network: a copy of the online backbone and projector that never receives
// gradient and follows the online weights by an exponential moving average,
// ξ ← τ ξ + (1 − τ) θ, applied under no-grad after each optimizer step.
#include <memory>

#include "ssl/heads.h"

namespace sg {

class TargetNetwork {
 public:
  // A network of online's shape, with online's weights.
  explicit TargetNetwork(const SiameseNet& online);
  // Target projections (train-mode BatchNorm, as in BYOL), recorded by no graph.
  Tensor encode(const Tensor& x);
  void update(double tau);
  SiameseNet& net() { return *net_; }

 private:
  std::unique_ptr<SiameseNet> net_;               // its predictor is never used
  std::vector<std::pair<Tensor, Tensor>> pairs_;  // (target, online) parameters
};

// The EMA rate τ at a step. Constant: τ = tau_base throughout (the GSG paper's code, 0.99).
// Cosine: τ rises from tau_base to 1 along a cosine over the run (BYOL's paper).
enum class TauSchedule { Constant, Cosine };
double byol_tau(double tau_base, int64_t step, int64_t total_steps);  // the cosine schedule
double ema_tau(TauSchedule schedule, double tau_base, int64_t step, int64_t total_steps);
TauSchedule parse_tau_schedule(const std::string& name);  // "constant" | "cosine"
const char* tau_schedule_name(TauSchedule schedule);

}  // namespace sg
