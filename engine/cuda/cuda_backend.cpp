#include "engine/cuda/cuda_backend.h"

#include <array>
#include <memory>
#include <mutex>

namespace sg {

Tensor CudaBackend::dense(const Tensor& t) {
  if (!t.defined() || t.is_contiguous()) return t;
  Tensor c = empty(t.shape(), t.dtype());
  copy(c, t);
  return c;
}

Backend& cuda_backend(int device_index) {
  static std::array<std::unique_ptr<CudaBackend>, 16> backends;
  static std::mutex mutex;
  SG_CHECK(device_index >= 0 && device_index < 16, "cuda:", device_index,
           " is not a valid device index");
  std::lock_guard lock(mutex);
  auto& b = backends[size_t(device_index)];
  if (!b) b = std::make_unique<CudaBackend>(device_index);
  return *b;
}

}  // namespace sg
