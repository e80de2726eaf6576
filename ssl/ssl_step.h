#pragma once
// One training step's objective for each self-supervised method: the views of a batch in, the
// loss out. train_cifar10, bench/train_step and the tests share it, so the method a benchmark
// times and a test checks is the method a run trains.
//   simsiam      2 views: ½ D(h(z1), sg(z2)) + ½ D(h(z2), sg(z1))
//   byol         2 views: the same with targets from the EMA network
//   simsiam-gsg  4 views (official) or 2 (stopgrad's cheaper variant): ssl/losses.h
//   byol-gsg     the same, distances and targets from the EMA network
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "ssl/byol.h"
#include "ssl/heads.h"
#include "ssl/losses.h"

namespace sg {

struct MethodOptions {
  std::string method = "simsiam-gsg";  // simsiam | simsiam-gsg | byol | byol-gsg
  int gsg_views = 4;                   // GSG: 4 (the paper's code) or 2
  bool predictor = true;               // false: the --no-predictor ablation, h = identity
  bool stop_grad = true;               // false: the --no-stop-grad ablation (SimSiam methods)
  double tau = 0.99;                   // BYOL: the EMA rate (at the start, for cosine)
  TauSchedule tau_schedule = TauSchedule::Constant;
};

// Throws naming the option when the combination is not a method (an unknown name, GSG views
// other than 2 or 4, --no-stop-grad with BYOL, whose targets never receive gradient anyway).
void check_method(const MethodOptions& m);
bool is_byol(const MethodOptions& m);
bool is_gsg(const MethodOptions& m);
int views_per_image(const MethodOptions& m);  // what the loader must make: 2, or 4 for GSG-4

struct StepLoss {
  Tensor loss;
  Tensor z1;  // the online projections of view 1 (for the z_std collapse metric)
  std::array<int64_t, 4> pair_counts{};  // GSG: how often each cross-image pair was chosen
};

class SslStep {
 public:
  // BYOL methods make their EMA target network from `net` here.
  SslStep(SiameseNet& net, const MethodOptions& m);
  // views: views_per_image(m) tensors [B, 3, H, W] on the network's device. GSG draws its
  // pairing permutation from pair_gen.
  StepLoss loss(const std::vector<Tensor>& views, Generator& pair_gen);
  // The same with GSG's pairing given: image i's partner is perm[i] (int64, a permutation of the
  // batch rows; ignored by the other methods). The data-parallel tests give one process the
  // block-wise permutation that the ranks draw each for its own rows.
  StepLoss loss(const std::vector<Tensor>& views, const Tensor& perm);
  // After the optimizer step: BYOL's EMA update with τ for this step of total_steps.
  void after_optimizer_step(int64_t step, int64_t total_steps);
  TargetNetwork* target() { return target_.get(); }  // null for the SimSiam methods
  const MethodOptions& method() const { return m_; }

 private:
  SiameseNet& net_;
  MethodOptions m_;
  std::unique_ptr<TargetNetwork> target_;
};

}  // namespace sg
