#include "ssl/byol.h"

#include <cmath>
#include <map>
#include <numbers>

namespace sg {

TargetNetwork::TargetNetwork(const SiameseNet& online)
    : net_(std::make_unique<SiameseNet>(online.options())) {
  std::map<std::string, Tensor> theirs;
  for (auto& [name, t] : online.state_dict()) theirs[name] = t;
  SG_CHECK(!theirs.empty(), "target network: the online network has no state");
  net_->to(theirs.begin()->second.device());  // the target lives where the online network does
  for (const auto& [name, t] : theirs)        // and in its floating-point dtype (float64 in tests)
    if (t.dtype() == DType::Float32 || t.dtype() == DType::Float64) {
      net_->to(t.dtype());
      break;
    }
  NamedTensors mine = net_->state_dict();
  NoGradGuard no_grad;
  for (auto& [name, t] : mine) {
    auto it = theirs.find(name);
    SG_CHECK(it != theirs.end() && it->second.shape() == t.shape(),
             "target network: online has no ", name, " of shape ", shape_str(t.shape()));
    engine::copy_(t, it->second);
  }
  for (auto& [name, t] : net_->named_parameters()) {
    t.set_requires_grad(false);  // the target is never trained by gradient
    if (!name.starts_with("predictor.")) pairs_.emplace_back(t, theirs.at(name));
  }
}

Tensor TargetNetwork::encode(const Tensor& x) {
  NoGradGuard no_grad;
  return net_->encode(x);
}

void TargetNetwork::update(double tau) {
  NoGradGuard no_grad;
  for (auto& [target, online] : pairs_) engine::ema_update(target, online, tau);
}

double byol_tau(double tau_base, int64_t step, int64_t total_steps) {
  double progress = total_steps > 0 ? double(step) / double(total_steps) : 1.0;
  return 1 - (1 - tau_base) * (std::cos(std::numbers::pi * std::min(progress, 1.0)) + 1) / 2;
}

double ema_tau(TauSchedule schedule, double tau_base, int64_t step, int64_t total_steps) {
  return schedule == TauSchedule::Constant ? tau_base : byol_tau(tau_base, step, total_steps);
}

TauSchedule parse_tau_schedule(const std::string& name) {
  SG_CHECK(name == "constant" || name == "cosine", "tau schedule '", name,
           "': expected constant or cosine");
  return name == "constant" ? TauSchedule::Constant : TauSchedule::Cosine;
}

const char* tau_schedule_name(TauSchedule schedule) {
  return schedule == TauSchedule::Constant ? "constant" : "cosine";
}

}  // namespace sg
