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

}  // namespace
}  // namespace sg::onednn
