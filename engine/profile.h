#pragma once
// Where a training step's time goes, by kind of kernel. Off unless a ProfileScope is alive on
// the calling thread; then every dispatched op adds its wall time to that scope's Profile.
// Nested dispatches (a conversion inside a convolution) count once, for the outer op.
#include <array>
#include <chrono>
#include <string_view>

namespace sg {

enum class OpKind {
  Conv,
  BatchNorm,
  Pool,
  Elementwise,
  Matmul,
  Reduce,
  Copy,
  Optimizer,
  Collective,  // time blocked in a communicator call (engine/communicator.h)
  Other,
  Count
};
std::string_view op_kind_name(OpKind kind);

struct Profile {
  std::array<double, size_t(OpKind::Count)> seconds{};
  std::array<long, size_t(OpKind::Count)> calls{};
};

class ProfileScope {
 public:
  explicit ProfileScope(Profile& profile);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  Profile* previous_;
};

// Placed at the top of each dispatch function in engine/ops.cpp.
class KernelTimer {
 public:
  explicit KernelTimer(OpKind kind);
  ~KernelTimer();
  KernelTimer(const KernelTimer&) = delete;
  KernelTimer& operator=(const KernelTimer&) = delete;

 private:
  Profile* profile_;
  OpKind kind_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace sg
