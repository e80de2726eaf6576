// The caching allocator's bookkeeping (reuse, best fit, splitting, merging, giving cached
// segments back when the source runs out), on host memory from a fake source with a budget, so
// it runs everywhere; the CUDA backend puts cudaMalloc behind the same code.
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>

#include "engine/caching_allocator.h"

using namespace sg;

namespace {
// Hands out malloc'd segments up to `budget` bytes in total and counts the calls.
struct FakeSource {
  explicit FakeSource(size_t budget_bytes) : budget(budget_bytes) {}
  FakeSource(const FakeSource&) = delete;
  FakeSource& operator=(const FakeSource&) = delete;
  size_t budget, used = 0;
  int gets = 0, puts = 0;
  std::map<void*, size_t> live;
  SegmentSource source() {
    return {[this](size_t size) -> void* {
              if (used + size > budget) return nullptr;
              void* p = std::malloc(size);
              used += size, ++gets, live[p] = size;
              return p;
            },
            [this](void* p) {
              used -= live.at(p), ++puts, live.erase(p);
              std::free(p);
            },
            "fake"};
  }
  ~FakeSource() {
    for (auto& [p, size] : live) std::free(p);
  }
};
constexpr size_t MiB = size_t(1) << 20;
}  // namespace

TEST_CASE("caching_allocator.reuses_freed_blocks") {
  FakeSource src(64 * MiB);
  CachingAllocator a(src.source());
  void* first;
  {
    DataPtr p = a.allocate(1000);
    first = p.get();
    CHECK(a.stats().allocated == 1024);  // rounded to 512-byte units
  }
  CHECK(a.stats().allocated == 0);
  DataPtr again = a.allocate(900);
  CHECK(again.get() == first);  // the freed block, no new segment
  CHECK(src.gets == 1);
  CHECK(a.stats().reserved == CachingAllocator::kSmallSegment);
}

TEST_CASE("caching_allocator.splits_segments_and_merges_neighbours") {
  FakeSource src(64 * MiB);
  CachingAllocator a(src.source());
  {
    // Four small blocks side by side in one 2 MiB segment.
    DataPtr b1 = a.allocate(256 * 1024), b2 = a.allocate(256 * 1024), b3 = a.allocate(512 * 1024),
            b4 = a.allocate(512 * 1024);
    CHECK(src.gets == 1);
    CHECK(static_cast<char*>(b2.get()) == static_cast<char*>(b1.get()) + 256 * 1024);
    CHECK(a.stats().allocated == 1536 * 1024);
  }  // freed in reverse order: the blocks merge back into the whole segment
  DataPtr whole = a.allocate(CachingAllocator::kSmallLimit);
  DataPtr rest = a.allocate(CachingAllocator::kSmallLimit);
  CHECK(src.gets == 1);  // both halves of the merged segment, still no new segment
  // A large request gets its own segment, rounded to 2 MiB, and splits only big remainders.
  DataPtr big = a.allocate(3 * MiB + 1);
  CHECK(src.gets == 2);
  CHECK(a.stats().reserved == CachingAllocator::kSmallSegment + 4 * MiB);
}

TEST_CASE("caching_allocator.best_fit_and_no_growth_in_a_steady_loop") {
  FakeSource src(256 * MiB);
  CachingAllocator a(src.source());
  auto step = [&] {
    DataPtr x = a.allocate(8 * MiB), y = a.allocate(3 * MiB), z = a.allocate(40 * 1024);
    DataPtr w = a.allocate(8 * MiB);
  };
  step();
  size_t reserved = a.stats().reserved;
  int gets = src.gets;
  for (int i = 0; i < 100; ++i) step();
  CHECK(a.stats().reserved == reserved);  // like a training step: no growth over 100 steps
  CHECK(src.gets == gets);
  CHECK(a.stats().allocated == 0);
}

TEST_CASE("caching_allocator.gives_cached_segments_back_when_the_source_runs_out") {
  FakeSource src(10 * MiB);
  CachingAllocator a(src.source());
  { DataPtr p = a.allocate(6 * MiB); }  // cached: 6 MiB held, none in use
  DataPtr q = a.allocate(8 * MiB);      // does not fit beside it: the cache is released first
  CHECK(src.puts == 1);
  CHECK(a.stats().reserved == 8 * MiB);
  CHECK_THROWS_WITH_AS(a.allocate(4 * MiB), doctest::Contains("out of memory on fake"), Error);
}
