// BYOL's EMA update as one threaded, vectorisable loop over contiguous float32 memory.
#include "engine/onednn/onednn_backend.h"
#include "engine/parallel.h"

namespace sg {

void OneDnnBackend::ema_update(const Tensor& target, const Tensor& online, double tau) {
  if (target.dtype() != DType::Float32) return ReferenceBackend::ema_update(target, online, tau);
  float* t = target.data<float>();
  const float* o = online.data<float>();
  const float a = float(tau), b = float(1 - tau);
  parallel_for(target.numel(), [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) t[i] = a * t[i] + b * o[i];
  });
}

}  // namespace sg
