#pragma once
// How the CUDA batch norm spreads its per-channel reductions over blocks, and how it combines
// their partial sums. Plain C++ as well, so host-side tests check the arithmetic where no GPU
// exists (tests/engine/test_cuda_batch_norm_split.cpp).
//
// One block per channel (64 blocks for ResNet's first stage) would leave half an H100 idle and
// stream a whole channel through one SM, so channel c's images are cut into `splits` runs, one
// block each, with enough blocks in all to fill the GPU. Each block sums d = x - shift and d^2
// for its run, where shift is the channel's first element: shifting by a value of the channel's
// own scale keeps the one-pass variance S2/m - (S1/m)^2 free of the cancellation that
// E[x^2] - E[x]^2 suffers when |mean| >> std.
#include <cstdint>

#include "engine/host_device.h"

namespace sg::cuda {

struct ChannelSplit {
  int64_t n = 0, c = 0, hw = 0;  // x viewed as [N, C, HW]
  int64_t splits = 1;            // blocks per channel

  // Images [first_image(s), first_image(s + 1)) belong to block s of each channel.
  SG_HOST_DEVICE int64_t first_image(int64_t s) const { return s * n / splits; }
  SG_HOST_DEVICE int64_t count() const { return n * hw; }  // elements per channel
};

// Enough blocks for `target_blocks` in all (a few per SM), but at least `min_elements` elements
// per block so that small layers do not pay for more partial sums than they save.
inline ChannelSplit split_channels(int64_t n, int64_t c, int64_t hw, int64_t target_blocks,
                                   int64_t min_elements = 4096) {
  ChannelSplit s{n, c, hw, 1};
  int64_t want = (target_blocks + c - 1) / (c > 0 ? c : 1);
  int64_t most = n * hw / min_elements;
  if (most > n) most = n;
  s.splits = want < most ? want : most;
  if (s.splits < 1) s.splits = 1;
  return s;
}

// A channel's statistics from the sums of its blocks: S1 = sum(x - shift), S2 = sum((x-shift)^2).
template <typename A>
struct ChannelStats {
  A mean, var;  // var is the biased (population) variance
};

template <typename A>
SG_HOST_DEVICE ChannelStats<A> finish_stats(A s1, A s2, A shift, int64_t count) {
  A m = A(count), d = s1 / m;
  A var = s2 / m - d * d;
  return {shift + d, var > A(0) ? var : A(0)};
}

}  // namespace sg::cuda
