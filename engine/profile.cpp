#include "engine/profile.h"

namespace sg {

namespace {
thread_local Profile* active = nullptr;
thread_local int depth = 0;
}  // namespace

std::string_view op_kind_name(OpKind kind) {
  static constexpr std::string_view names[] = {
      "conv",      "batch_norm",   "pooling",   "elementwise", "matmul",
      "reduction", "copy/reorder", "optimizer", "collective",  "other"};
  return names[size_t(kind)];
}

ProfileScope::ProfileScope(Profile& profile) : previous_(active) { active = &profile; }
ProfileScope::~ProfileScope() { active = previous_; }

KernelTimer::KernelTimer(OpKind kind)
    : profile_(active && depth == 0 ? active : nullptr), kind_(kind) {
  ++depth;
  if (profile_) start_ = std::chrono::steady_clock::now();
}

KernelTimer::~KernelTimer() {
  --depth;
  if (!profile_) return;
  profile_->seconds[size_t(kind_)] +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  profile_->calls[size_t(kind_)] += 1;
}

}  // namespace sg
