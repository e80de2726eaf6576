// The SGD step as one threaded, vectorisable loop over contiguous float32 memory.
#include "engine/onednn/onednn_backend.h"
#include "engine/parallel.h"

namespace sg {

void OneDnnBackend::sgd_update(const Tensor& param, const Tensor& grad,
                               const Tensor& momentum_buffer, double lr, double momentum,
                               double weight_decay, bool nesterov, double grad_scale) {
  if (param.dtype() != DType::Float32)
    return ReferenceBackend::sgd_update(param, grad, momentum_buffer, lr, momentum, weight_decay,
                                        nesterov, grad_scale);
  float* p = param.data<float>();
  const float* g = grad.data<float>();
  float* buf = momentum_buffer.data<float>();
  const float wd = float(weight_decay), scale = float(grad_scale), m = float(momentum),
              rate = float(lr);
  parallel_for(param.numel(), [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      float d = (g[i] + wd * p[i]) * scale;
      float b = m * buf[i] + d;
      buf[i] = b;
      p[i] -= rate * (nesterov ? d + m * b : b);
    }
  });
}

}  // namespace sg
