// The arithmetic of the CUDA batch norm's split reductions (engine/cuda/batch_norm_split.h),
// checked on the host: every image of a channel falls in exactly one block's run, and channel
// statistics from per-block float partial sums of shifted values match a two-pass double
// computation, also for a channel whose mean dwarfs its spread.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/cuda/batch_norm_split.h"
#include "engine/random.h"

using namespace sg;
using cuda::ChannelSplit;

namespace {
// What the kernels compute for channel c of x [n, c, hw]: float partial sums per block of
// d = x - shift (shift = the channel's first value, or 0 to show what the shift prevents),
// combined in double.
cuda::ChannelStats<double> split_stats(const std::vector<float>& x, const ChannelSplit& sp,
                                       int64_t c, bool shifted) {
  float shift = shifted ? x[size_t(c * sp.hw)] : 0.0f;
  double s1 = 0, s2 = 0;
  for (int64_t s = 0; s < sp.splits; ++s) {
    float p1 = 0, p2 = 0;
    for (int64_t img = sp.first_image(s); img < sp.first_image(s + 1); ++img)
      for (int64_t j = 0; j < sp.hw; ++j) {
        float d = x[size_t((img * sp.c + c) * sp.hw + j)] - shift;
        p1 += d;
        p2 += d * d;
      }
    s1 += p1, s2 += p2;
  }
  return cuda::finish_stats<double>(s1, s2, shift, sp.count());
}
}  // namespace

TEST_CASE("cuda_batch_norm_split.runs_cover_every_image_once") {
  struct Case {
    int64_t n, c, hw, target;
  };
  for (Case k : {Case{512, 64, 1024, 528}, Case{512, 512, 16, 528}, Case{3, 5, 7, 528},
                 Case{1024, 2048, 1, 528}, Case{2, 1, 1, 528}, Case{64, 16, 36, 8}}) {
    CAPTURE(k.n);
    CAPTURE(k.c);
    CAPTURE(k.hw);
    ChannelSplit sp = cuda::split_channels(k.n, k.c, k.hw, k.target);
    CHECK(sp.splits >= 1);
    CHECK(sp.splits <= k.n);
    CHECK((sp.splits == 1 || k.n * k.hw / sp.splits >= 4096));  // no block with too little work
    CHECK(sp.first_image(0) == 0);
    CHECK(sp.first_image(sp.splits) == k.n);
    for (int64_t s = 0; s < sp.splits; ++s) CHECK(sp.first_image(s) < sp.first_image(s + 1));
  }
  // ResNet's first stage at batch 512 fills the GPU: 64 channels x 9 runs >= 4 x 132 SMs.
  CHECK(cuda::split_channels(512, 64, 1024, 528).splits * 64 >= 528);
}

TEST_CASE("cuda_batch_norm_split.statistics_match_two_pass_double") {
  const int64_t n = 96, c = 3, hw = 100;
  ChannelSplit sp = cuda::split_channels(n, c, hw, 12, 1000);
  REQUIRE(sp.splits > 1);
  Generator gen(7);
  // Channel means 0, 1000 and -50 with spreads 1, 0.01 and 3.
  const double means[] = {0, 1000, -50}, spreads[] = {1, 0.01, 3};
  std::vector<float> x(size_t(n * c * hw));
  for (int64_t i = 0; i < n * c * hw; ++i) {
    int64_t ch = (i / hw) % c;
    x[size_t(i)] = float(means[ch] + spreads[ch] * gen.normal());
  }
  for (int64_t ch = 0; ch < c; ++ch) {
    double mean = 0, var = 0;
    for (int64_t img = 0; img < n; ++img)
      for (int64_t j = 0; j < hw; ++j) mean += x[size_t((img * c + ch) * hw + j)];
    mean /= double(n * hw);
    for (int64_t img = 0; img < n; ++img)
      for (int64_t j = 0; j < hw; ++j) {
        double d = x[size_t((img * c + ch) * hw + j)] - mean;
        var += d * d;
      }
    var /= double(n * hw);
    CAPTURE(ch);
    auto st = split_stats(x, sp, ch, true);
    CHECK(std::abs(st.mean - mean) <= 1e-6 * (std::abs(mean) + std::sqrt(var)));
    CHECK(std::abs(st.var - var) <= 1e-4 * var);
    // Without the shift, the channel at 1000 +- 0.01 loses its variance to cancellation.
    if (ch == 1) CHECK(std::abs(split_stats(x, sp, ch, false).var - var) > 0.5 * var);
  }
}
