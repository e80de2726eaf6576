// Device memory through a caching allocator: cudaMalloc is slow and synchronises the device, so
// freed blocks are kept and reused. Small requests (<= 1 MiB) are carved from 2 MiB segments,
// larger ones from segments of their own rounded size; a free block larger than the request is
// split, and neighbouring free blocks of a segment merge again when both are free. All work of
// a device runs on its one stream, so a block freed by the host can be handed out again at
// once: stream order guarantees the old kernels finish before the new owner's start.
#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "engine/backend.h"
#include "engine/cuda/cuda_context.h"
#include "engine/storage.h"

namespace sg {

namespace {

constexpr size_t kRound = 512;              // every block is a multiple of this
constexpr size_t kSmallLimit = 1 << 20;     // requests up to this come from small segments
constexpr size_t kSmallSegment = 2 << 20;   // size of a small segment
constexpr size_t kLargeRound = 2 << 20;     // large segments are multiples of this
constexpr size_t kMinLargeSplit = 1 << 20;  // remainders below this stay with the large block

struct Block {
  char* ptr;
  size_t size;
  bool small;
  bool free = false;
  Block* prev = nullptr;  // neighbours within the same cudaMalloc segment
  Block* next = nullptr;
};

struct BySizeThenAddress {
  bool operator()(const Block* a, const Block* b) const {
    return a->size != b->size ? a->size < b->size : a->ptr < b->ptr;
  }
};

class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}

  DataPtr allocate(size_t nbytes) override {
    size_t size = std::max(kRound, (nbytes + kRound - 1) / kRound * kRound);
    std::lock_guard lock(mutex_);
    cuda::context(device_);  // makes the device current
    bool small = size <= kSmallLimit;
    auto& pool = small ? small_free_ : large_free_;
    Block key{nullptr, size, small};
    auto it = pool.lower_bound(&key);
    Block* block;
    if (it != pool.end()) {
      block = *it;
      pool.erase(it);
    } else {
      block = new_segment(
          small ? kSmallSegment : (size + kLargeRound - 1) / kLargeRound * kLargeRound, small);
    }
    size_t remainder = block->size - size;
    if (remainder >= (small ? kRound : kMinLargeSplit)) {
      auto rest = std::make_unique<Block>(Block{block->ptr + size, remainder, small});
      rest->free = true;
      rest->prev = block;
      rest->next = block->next;
      if (block->next) block->next->prev = rest.get();
      block->next = rest.get();
      block->size = size;
      pool.insert(rest.get());
      blocks_.emplace(rest->ptr, std::move(rest));
    }
    block->free = false;
    stats_.allocated += block->size;
    return DataPtr(block->ptr, [this](void* p) { release(static_cast<char*>(p)); });
  }

  DeviceMemoryStats stats() {
    std::lock_guard lock(mutex_);
    return stats_;
  }

 private:
  Block* new_segment(size_t size, bool small) {
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached_segments();
      e = cudaMalloc(&p, size);
    }
    SG_CHECK(e == cudaSuccess, "out of memory on cuda:", device_, " allocating ", size, " bytes (",
             stats_.allocated, " in use, ", stats_.reserved, " reserved): ", cudaGetErrorString(e));
    stats_.reserved += size;
    auto block = std::make_unique<Block>(Block{static_cast<char*>(p), size, small});
    Block* raw = block.get();
    blocks_.emplace(raw->ptr, std::move(block));
    return raw;
  }

  void release(char* p) {
    std::lock_guard lock(mutex_);
    Block* block = blocks_.at(p).get();
    stats_.allocated -= block->size;
    block->free = true;
    auto& pool = block->small ? small_free_ : large_free_;
    // Merge with free neighbours so a segment can become whole again.
    if (block->next && block->next->free) block = merge(block, block->next, pool);
    if (block->prev && block->prev->free) block = merge(block->prev, block, pool);
    pool.insert(block);
  }

  // Folds `second` (free, right after `first`) into `first`; returns first.
  Block* merge(Block* first, Block* second, std::set<Block*, BySizeThenAddress>& pool) {
    pool.erase(first);
    pool.erase(second);
    first->size += second->size;
    first->next = second->next;
    if (second->next) second->next->prev = first;
    blocks_.erase(second->ptr);
    return first;
  }

  // Gives whole free segments back to the driver (when cudaMalloc has run out).
  void release_cached_segments() {
    for (auto* pool : {&small_free_, &large_free_})
      for (auto it = pool->begin(); it != pool->end();) {
        Block* b = *it;
        if (b->prev || b->next) {
          ++it;
          continue;
        }
        it = pool->erase(it);
        cudaFree(b->ptr);
        stats_.reserved -= b->size;
        blocks_.erase(b->ptr);
      }
  }

  int device_;
  std::mutex mutex_;
  std::map<char*, std::unique_ptr<Block>> blocks_;  // every block, free or not, by address
  std::set<Block*, BySizeThenAddress> small_free_, large_free_;
  DeviceMemoryStats stats_;
};

constexpr int kMaxDevices = 16;

CachingAllocator& caching_allocator(int device) {
  // Never destroyed: tensors in static storage may free their memory during exit, after
  // function-local statics would be gone, and the driver reclaims device memory anyway.
  static auto* allocators = new std::array<std::unique_ptr<CachingAllocator>, kMaxDevices>();
  static std::mutex mutex;
  SG_CHECK(device >= 0 && device < kMaxDevices, "cuda:", device, " is not a valid device index");
  std::lock_guard lock(mutex);
  auto& a = (*allocators)[size_t(device)];
  if (!a) a = std::make_unique<CachingAllocator>(device);
  return *a;
}

}  // namespace

Allocator& cuda_allocator(int device_index) { return caching_allocator(device_index); }

DeviceMemoryStats device_memory_stats(Device device) {
  if (!device.is_cuda()) return {};
  return caching_allocator(device.index).stats();
}

}  // namespace sg
