#include "engine/storage.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/error.h"

namespace sg {

namespace {

// Freed host blocks of 128 KiB and more, kept by size for the next request of that size. A
// training step allocates the same activation sizes step after step, in an order glibc's heap
// fragments under: measured for the four-view GSG step of ResNet-18 width 16, batch 256
// (bench/train_step), 1.64 GB peak resident with plain malloc/free against 1.40 GB live at most
// (glibc told to give every free back, which costs a page fault per reused page). Blocks below
// 128 KiB (glibc's first mmap threshold) stay with malloc, which reuses them well. From 1 MiB
// only, as at first, the SSL heads' [64, 2048] float32 tensors (512 KiB) came back from glibc
// as fresh pages: a bf16 SimSiam step of ResNet-18 width 64, batch 64 took 834 page faults, and
// each of its 14 such products and 8 quotients 0.25-0.48 ms instead of 0.01-0.02 (AMD Zen 5);
// with 128 KiB, 28 faults a step, and the GSG step above peaks where it did (1.60 GB). An
// explicit cache: release_cached_host_memory() empties it.
//
// The cached blocks are mapped pages of their own (mmap), not malloc's, so that a released block
// leaves the process. Through malloc it did not always: when glibc frees one of its own mmaps, it
// raises its mmap threshold to that size (up to 32 MiB); later blocks below it come from its
// heap, and freed heap blocks under a live allocation stay resident. Measured on the four-view
// GSG run (Intel Xeon model 207, subset, batch 256): 1.70 GB peak resident in epoch 1, then
// 1.84-1.89 GB in epochs 2-5, each after an evaluation's release; 1.68 GB in every epoch with
// glibc's threshold pinned (GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1048576), and the same
// 1.68 GB with mapped blocks, which drop to 0.54 GB during each evaluation.
class HostBlockCache {
 public:
  static constexpr size_t kMinBytes = size_t(128) << 10;
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(bytes);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    return p;
  }
  void give(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[bytes].push_back(p);
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [bytes, blocks] : free_)
      for (void* p : blocks) munmap(p, bytes);
    free_.clear();
  }

 private:
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
};

// Never destroyed: tensors held by other static objects die during static destruction, after a
// function-local static cache would be gone.
HostBlockCache& host_cache() {
  static HostBlockCache& cache = *new HostBlockCache;
  return cache;
}

// Under AddressSanitizer every block goes back to free(), so that a use after free is caught.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheHostBlocks = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kCacheHostBlocks = false;
#else
constexpr bool kCacheHostBlocks = true;
#endif
#else
constexpr bool kCacheHostBlocks = true;
#endif

void* map_pages(size_t bytes, size_t nbytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  SG_CHECK(p != MAP_FAILED, "out of host memory allocating ", nbytes, " bytes");
  return p;
}

// Blocks of 2 MiB and more start on a 2 MiB boundary and ask for transparent huge pages
// (honoured where /sys/kernel/mm/transparent_hugepage/enabled is "always" or "madvise", as on
// Debian; elsewhere the advice is ignored). The passes over activations are memory-bound, and
// with 4 KiB pages a 8 MB tensor spans 2,048 TLB entries, so BatchNorm, the elementwise ops and
// the optimizer missed the TLB on every few lines. Measured on the Intel Xeon model 167 (2 cores):
// BatchNorm 26.1-27.4 -> 23.7-24.9 ms per supervised bf16 step, SimSiam 55.1-58.4 -> 51.2-52.3.
constexpr size_t kHugePage = size_t(2) << 20;

void* map_block(size_t bytes, size_t nbytes) {
  if (bytes < kHugePage) return map_pages(bytes, nbytes);
  // Map one huge page more than needed and give back what lies outside the aligned block.
  const size_t span = bytes + kHugePage;
  auto* raw = static_cast<char*>(map_pages(span, nbytes));
  const uintptr_t start =
      (reinterpret_cast<uintptr_t>(raw) + kHugePage - 1) / kHugePage * kHugePage;
  char* block = raw + (start - reinterpret_cast<uintptr_t>(raw));
  if (block > raw) munmap(raw, size_t(block - raw));
  if (raw + span > block + bytes) munmap(block + bytes, size_t(raw + span - (block + bytes)));
  madvise(block, bytes, MADV_HUGEPAGE);
  return block;
}

class CpuAllocator final : public Allocator {
 public:
  static constexpr size_t kPage = 4096;
  DataPtr allocate(size_t nbytes) override {
    // 64-byte alignment: one AVX-512 register, and what oneDNN asks for.
    size_t rounded = (nbytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    if (kCacheHostBlocks && rounded >= HostBlockCache::kMinBytes) {
      rounded = (rounded + kPage - 1) / kPage * kPage;  // mmap hands out whole pages
      void* p = host_cache().take(rounded);
      if (!p) p = map_block(rounded, nbytes);
      return DataPtr(p, [rounded](void* q) { host_cache().give(q, rounded); });
    }
    void* p = std::aligned_alloc(64, rounded);
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

void release_cached_host_memory() { host_cache().release(); }

bool host_block_cache_enabled() { return kCacheHostBlocks; }

Storage::Storage(size_t nbytes, Device device)
    : data_(allocator_for(device).allocate(nbytes)), nbytes_(nbytes), device_(device) {}

}  // namespace sg
