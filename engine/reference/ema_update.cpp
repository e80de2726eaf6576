// Reference EMA update (BYOL's target network): t <- tau t + (1 - tau) o, per element.
#include "engine/reference/reference_backend.h"

namespace sg {

void ReferenceBackend::ema_update(const Tensor& target, const Tensor& online, double tau) {
  dispatch_floating(target.dtype(), "ema_update", [&]<typename T>() {
    T* t = target.data<T>();
    const T* o = online.data<T>();
    for (int64_t i = 0; i < target.numel(); ++i)
      t[i] = static_cast<T>(tau * double(t[i]) + (1 - tau) * double(o[i]));
  });
}

}  // namespace sg
