// Host memory: freed large blocks are cached for reuse, and released ones leave the process.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include <unistd.h>

#include "engine/storage.h"
#include "engine/tensor.h"

using namespace sg;

namespace {
// This process's resident memory, from /proc/self/statm (its second field, in pages).
size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  REQUIRE_MESSAGE(f != nullptr, "cannot read /proc/self/statm");
  long total = 0, resident = 0;
  int read = std::fscanf(f, "%ld %ld", &total, &resident);
  std::fclose(f);
  REQUIRE(read == 2);
  return size_t(resident) * size_t(sysconf(_SC_PAGESIZE));
}
constexpr size_t kMiB = size_t(1) << 20;
}  // namespace

TEST_CASE("storage.released_host_blocks_leave_the_process") {
  if (!host_block_cache_enabled()) {
    std::printf("SKIPPED: the host block cache is off in this build (AddressSanitizer)\n");
    std::exit(77);
  }
  // What made this fail before: once glibc has freed one of its own mmaps of some size, it
  // raises its mmap threshold to that size, so later blocks of that size came from its heap,
  // and freeing them below a live allocation left them resident.
  char* volatile big = static_cast<char*>(std::malloc(8 * kMiB));  // volatile: not elided
  REQUIRE(big != nullptr);
  big[0] = 1;
  std::free(big);
  release_cached_host_memory();
  size_t before = resident_bytes();
  std::vector<Tensor> blocks;
  for (int i = 0; i < 32; ++i) blocks.push_back(Tensor::ones({int64_t(kMiB / 2)}));  // 2 MiB each
  std::vector<char> above(256 * 1024, 1);  // a live heap allocation after them (read at the end)
  size_t held = resident_bytes();
  CHECK(held >= before + 60 * kMiB);

  blocks.clear();  // cached for reuse: still resident, and handed out again without growth
  for (int i = 0; i < 32; ++i) blocks.push_back(Tensor::ones({int64_t(kMiB / 2)}));
  CHECK(resident_bytes() <= held + 4 * kMiB);

  blocks.clear();
  release_cached_host_memory();
  size_t after = resident_bytes();
  CHECK_MESSAGE(after <= before + 8 * kMiB, "resident ", after / kMiB, " MiB after release, ",
                before / kMiB, " MiB before the 64 MiB of blocks");
  CHECK(above.back() == 1);
}

// Blocks of 2 MiB and more start on a huge-page boundary (engine/storage.cpp maps them so and
// asks for transparent huge pages; whether the kernel grants them is the system's setting), and
// the whole block can be written. Smaller cached blocks keep mmap's page alignment.
TEST_CASE("storage.large_host_blocks_start_on_huge_page_boundaries") {
  if (!host_block_cache_enabled()) {
    std::printf("SKIPPED: the host block cache is off in this build (AddressSanitizer)\n");
    std::exit(77);
  }
  release_cached_host_memory();
  for (int64_t floats : {int64_t(kMiB / 2), int64_t(3 * kMiB + 12345), int64_t(5 * kMiB)}) {
    CAPTURE(floats);
    Tensor t = Tensor::ones({floats});
    CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % (2 * kMiB) == 0);
    const float* v = t.data<float>();
    CHECK(v[0] == 1.0f);
    CHECK(v[floats - 1] == 1.0f);
  }
  Tensor small = Tensor::ones({int64_t(kMiB / 4) + 1});  // 1 MiB and a little: cached, not huge
  CHECK(reinterpret_cast<uintptr_t>(small.raw_data()) % 4096 == 0);
  release_cached_host_memory();
}
