#include "engine/caching_allocator.h"

#include <algorithm>

#include "engine/error.h"

namespace sg {

DataPtr CachingAllocator::allocate(size_t nbytes) {
  size_t size = std::max(kRound, (nbytes + kRound - 1) / kRound * kRound);
  std::lock_guard lock(mutex_);
  bool small = size <= kSmallLimit;
  FreeSet& pool = small ? small_free_ : large_free_;
  Block key{nullptr, size, small};
  auto it = pool.lower_bound(&key);  // the smallest free block that fits
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

DeviceMemoryStats CachingAllocator::stats() {
  std::lock_guard lock(mutex_);
  return stats_;
}

CachingAllocator::Block* CachingAllocator::new_segment(size_t size, bool small) {
  void* p = source_.get(size);
  if (!p) {
    release_cached_segments();
    p = source_.get(size);
  }
  SG_CHECK(p != nullptr, "out of memory on ", source_.name, " allocating ", size, " bytes (",
           stats_.allocated, " in use, ", stats_.reserved, " reserved)");
  stats_.reserved += size;
  auto block = std::make_unique<Block>(Block{static_cast<char*>(p), size, small});
  Block* raw = block.get();
  blocks_.emplace(raw->ptr, std::move(block));
  return raw;
}

void CachingAllocator::release(char* p) {
  std::lock_guard lock(mutex_);
  Block* block = blocks_.at(p).get();
  stats_.allocated -= block->size;
  block->free = true;
  FreeSet& pool = block->small ? small_free_ : large_free_;
  // Merge with free neighbours so a segment can become whole again.
  if (block->next && block->next->free) block = merge(block, block->next, pool);
  if (block->prev && block->prev->free) block = merge(block->prev, block, pool);
  pool.insert(block);
}

// Folds `second` (free, right after `first`) into `first`; returns first. Both leave the free
// set first, since their sizes (the set's order) change.
CachingAllocator::Block* CachingAllocator::merge(Block* first, Block* second, FreeSet& pool) {
  pool.erase(first);
  pool.erase(second);
  first->size += second->size;
  first->next = second->next;
  if (second->next) second->next->prev = first;
  blocks_.erase(second->ptr);
  return first;
}

void CachingAllocator::release_cached_segments() {
  for (FreeSet* pool : {&small_free_, &large_free_})
    for (auto it = pool->begin(); it != pool->end();) {
      Block* b = *it;
      if (b->prev || b->next) {  // part of a segment still in use
        ++it;
        continue;
      }
      it = pool->erase(it);
      source_.put(b->ptr);
      stats_.reserved -= b->size;
      blocks_.erase(b->ptr);
    }
}

}  // namespace sg
