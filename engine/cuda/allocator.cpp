// Device memory: the caching allocator (engine/caching_allocator.h) over cudaMalloc/cudaFree,
// one per device.
#include <array>
#include <memory>
#include <mutex>

#include "engine/caching_allocator.h"
#include "engine/cuda/cuda_context.h"

namespace sg {

namespace {

constexpr int kMaxDevices = 16;

SegmentSource cuda_segments(int device) {
  return {[device](size_t size) -> void* {
            cuda::context(device);  // makes the device current
            void* p = nullptr;
            cudaError_t e = cudaMalloc(&p, size);
            if (e == cudaErrorMemoryAllocation) {
              (void)cudaGetLastError();  // clear it: the allocator frees its cache and retries
              return nullptr;
            }
            SG_CUDA_CHECK(e);
            return p;
          },
          [](void* p) { cudaFree(p); }, "cuda:" + std::to_string(device)};
}

CachingAllocator& caching_allocator(int device) {
  // Never destroyed: tensors in static storage may free their memory during exit, after
  // function-local statics would be gone, and the driver reclaims device memory anyway.
  static auto* allocators = new std::array<std::unique_ptr<CachingAllocator>, kMaxDevices>();
  static std::mutex mutex;
  SG_CHECK(device >= 0 && device < kMaxDevices, "cuda:", device, " is not a valid device index");
  std::lock_guard lock(mutex);
  auto& a = (*allocators)[size_t(device)];
  if (!a) a = std::make_unique<CachingAllocator>(cuda_segments(device));
  return *a;
}

}  // namespace

Allocator& cuda_allocator(int device_index) { return caching_allocator(device_index); }

DeviceMemoryStats device_memory_stats(Device device) {
  if (!device.is_cuda()) return {};
  return caching_allocator(device.index).stats();
}

}  // namespace sg
