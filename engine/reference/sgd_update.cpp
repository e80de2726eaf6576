// Reference SGD step (momentum, weight decay, Nesterov): the update rule written out per element.
#include "engine/reference/reference_backend.h"

namespace sg {

void ReferenceBackend::sgd_update(const Tensor& param, const Tensor& grad,
                                  const Tensor& momentum_buffer, double lr, double momentum,
                                  double weight_decay, bool nesterov, double grad_scale) {
  dispatch_floating(param.dtype(), "sgd_update", [&]<typename T>() {
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* buf = momentum_buffer.data<T>();
    for (int64_t i = 0; i < param.numel(); ++i) {
      double d = (double(g[i]) + weight_decay * double(p[i])) * grad_scale;
      double b = momentum * double(buf[i]) + d;
      buf[i] = static_cast<T>(b);
      p[i] = static_cast<T>(double(p[i]) - lr * (nesterov ? d + momentum * b : b));
    }
  });
}

}  // namespace sg
