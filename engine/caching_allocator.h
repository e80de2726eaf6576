#pragma once
// The bookkeeping of a caching allocator, apart from where its memory comes from: device memory
// (cudaMalloc) is slow to get and synchronises the device, so freed blocks are kept and reused.
// Small requests (<= 1 MiB) are carved from 2 MiB segments, larger ones from segments of their
// own size rounded to 2 MiB; a free block larger than the request is split (best fit), and
// neighbouring free blocks of a segment merge again. When the source runs out, whole cached
// segments go back to it and the request is retried. Thread-safe.
//
// Blocks are reused as soon as they are freed: that is safe for a device whose work all runs on
// one stream, in order (the CUDA backend's case), since the old owner's kernels finish before
// the new owner's start.
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "engine/backend.h"
#include "engine/storage.h"

namespace sg {

// Where segments come from: get returns null when out of memory; put gives a segment back.
struct SegmentSource {
  std::function<void*(size_t)> get;
  std::function<void(void*)> put;
  std::string name;  // for error messages ("cuda:0")
};

class CachingAllocator final : public Allocator {
 public:
  static constexpr size_t kRound = 512;                      // every block is a multiple
  static constexpr size_t kSmallLimit = size_t(1) << 20;     // small requests: up to 1 MiB
  static constexpr size_t kSmallSegment = size_t(2) << 20;   // carved from 2 MiB segments
  static constexpr size_t kLargeRound = size_t(2) << 20;     // large segments: multiples of this
  static constexpr size_t kMinLargeSplit = size_t(1) << 20;  // smaller large remainders stay

  explicit CachingAllocator(SegmentSource source) : source_(std::move(source)) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  DataPtr allocate(size_t nbytes) override;
  DeviceMemoryStats stats();

 private:
  struct Block {
    char* ptr;
    size_t size;
    bool small;
    bool free = false;
    Block* prev = nullptr;  // neighbours within the same segment
    Block* next = nullptr;
  };
  struct BySizeThenAddress {
    bool operator()(const Block* a, const Block* b) const {
      return a->size != b->size ? a->size < b->size : a->ptr < b->ptr;
    }
  };
  using FreeSet = std::set<Block*, BySizeThenAddress>;

  Block* new_segment(size_t size, bool small);
  void release(char* p);
  Block* merge(Block* first, Block* second, FreeSet& pool);
  void release_cached_segments();

  SegmentSource source_;
  std::mutex mutex_;
  std::map<char*, std::unique_ptr<Block>> blocks_;  // every block, free or not, by address
  FreeSet small_free_, large_free_;
  DeviceMemoryStats stats_;
};

}  // namespace sg
