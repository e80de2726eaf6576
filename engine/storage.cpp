#include "engine/storage.h"

#include <cstdlib>

#include "engine/error.h"

namespace sg {

namespace {

class CpuAllocator final : public Allocator {
 public:
  DataPtr allocate(size_t nbytes) override {
    // 64-byte alignment: one AVX-512 register, and what oneDNN asks for.
    size_t rounded = (nbytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    SG_CHECK(p != nullptr, "out of host memory allocating ", nbytes, " bytes");
    return DataPtr(p, [](void* q) { std::free(q); });
  }
};

}  // namespace

#ifdef SG_WITH_CUDA
Allocator& cuda_allocator(int device_index);  // engine/cuda/allocator.cpp
#endif

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) {
    static CpuAllocator cpu;
    return cpu;
  }
#ifdef SG_WITH_CUDA
  return cuda_allocator(device.index);
#else
  SG_CHECK(false, "device ", device.str(), " requested, but stopgrad was built without CUDA");
#endif
}

Storage::Storage(size_t nbytes, Device device)
    : data_(allocator_for(device).allocate(nbytes)), nbytes_(nbytes), device_(device) {}

}  // namespace sg
