#include "engine/backend.h"

#include "engine/ops.h"
#include "engine/reference/reference_backend.h"

namespace sg {

namespace {
thread_local bool force_reference = false;
}

#ifdef SG_WITH_ONEDNN
Backend& onednn_backend();  // engine/onednn/onednn_backend.cpp
#endif
#ifdef SG_WITH_CUDA
Backend& cuda_backend(int device_index);  // engine/cuda/cuda_backend.cpp
#endif

Tensor Backend::to_strided(const Tensor& x) {
  SG_CHECK(false, "backend ", name(), " cannot read the layout ", x.layout()->name());
}

Tensor Backend::weight_converted(const Tensor& w, DType dtype) { return engine::to(w, dtype); }

Backend& reference_backend() {
  static ReferenceBackend backend;
  return backend;
}

Backend& backend_for(Device device) {
  if (device.is_cpu()) {
#ifdef SG_WITH_ONEDNN
    if (!force_reference) return onednn_backend();
#endif
    return reference_backend();
  }
#ifdef SG_WITH_CUDA
  return cuda_backend(device.index);
#else
  SG_CHECK(false, "no backend for device ", device.str(), ": stopgrad was built without CUDA");
#endif
}

#ifndef SG_WITH_CUDA
int cuda_device_count() { return 0; }
void synchronize(Device) {}
DeviceMemoryStats device_memory_stats(Device) { return {}; }
#endif

ReferenceKernelsGuard::ReferenceKernelsGuard() : previous_(force_reference) {
  force_reference = true;
}
ReferenceKernelsGuard::~ReferenceKernelsGuard() { force_reference = previous_; }

}  // namespace sg
