#pragma once
// Counts rounded up to whole blocks and scratch areas to whole cache lines, for the AVX-512
// BF16 convolution kernels (Winograd and strided weight gradients). Internal linkage, as the
// kernels' other helpers: nothing compiled in those files is left for the linker to pick for
// code that runs on other CPUs.
#include <cstdint>

namespace sg::onednn {
namespace {

constexpr int64_t round_up(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

// Each area of a scratch buffer starts on its own cache line: aligned vector loads, and no
// line shared by two threads' areas.
constexpr int64_t align64(int64_t bytes) { return round_up(bytes, 64); }

// Where each thread has an area of its own in one scratch buffer, the areas lie this far
// apart: an area plus a gap. The kernels write 16 streams a fixed stride apart (one per
// Winograd position), and the CPU's stride prefetcher runs ahead of them past the end of the
// thread's area; when the next thread's area starts there, two cores take each other's lines.
// On AMD Zen 5 (64 -> 64 channels at 32x32, batch 64, 2 threads) the second thread's input
// transform ran 2.5x slower with the areas adjacent, 1.8x with 32 KiB between them, and at
// the first thread's speed from 128 KiB.
constexpr int64_t kThreadAreaGap = 256 * 1024;
constexpr int64_t thread_area_stride(int64_t area_bytes) {
  return align64(area_bytes) + kThreadAreaGap;
}

}  // namespace
}  // namespace sg::onednn
