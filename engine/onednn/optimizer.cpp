// Fast CPU versions of the optimizer step and of full reductions (the norms LARS needs):
// threaded, vectorisable loops over contiguous float32 memory.
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

Tensor OneDnnBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                             bool keepdim) {
  bool everything = int64_t(dims.size()) == x.dim();
  if (!everything || !x.is_contiguous() || x.dtype() != DType::Float32 ||
      (op != ReduceOp::Sum && op != ReduceOp::Mean) || x.numel() < (int64_t(1) << 15))
    return ReferenceBackend::reduce(op, x, dims, keepdim);
  const float* p = x.data<float>();
  int64_t n = x.numel();
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static)
  for (int64_t i = 0; i < n; ++i) total += p[i];
  Tensor out = Tensor::full(keepdim ? Shape(x.dim(), 1) : Shape{},
                            op == ReduceOp::Mean ? total / double(n) : total);
  return out;
}

}  // namespace sg
