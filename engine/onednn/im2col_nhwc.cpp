#include "engine/onednn/im2col_nhwc.h"

#include <cstring>

#include "engine/onednn/context.h"

namespace sg::onednn {

void im2col_nhwc(const uint16_t* x, const Shape& x_shape, const Shape& out_shape, int64_t R,
                 int64_t S, Conv2dOptions o, bool reversed_taps, uint16_t* cols) {
  const int64_t C = x_shape[1], H = x_shape[2], W = x_shape[3];
  const int64_t Ho = out_shape[2], Wo = out_shape[3];
  const int64_t pixels = out_shape[0] * Ho * Wo, row = R * S * C;
  // Each pixel's row is R*S channel runs: few, long copies, spread over the threads.
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pixels; ++p) {
    const int64_t n = p / (Ho * Wo), ho = p / Wo % Ho, wo = p % Wo;
    uint16_t* dst = cols + p * row;
    for (int64_t r = 0; r < R; ++r) {
      const int64_t hi = ho * o.stride - o.padding + (reversed_taps ? R - 1 - r : r);
      for (int64_t s = 0; s < S; ++s, dst += C) {
        const int64_t wi = wo * o.stride - o.padding + (reversed_taps ? S - 1 - s : s);
        if (hi < 0 || hi >= H || wi < 0 || wi >= W)
          std::memset(dst, 0, size_t(C) * sizeof(uint16_t));
        else
          std::memcpy(dst, x + ((n * H + hi) * W + wi) * C, size_t(C) * sizeof(uint16_t));
      }
    }
  }
}

uint16_t* im2col_scratch(size_t elements) {
  thread_local ScratchBuffer buffer;
  return reinterpret_cast<uint16_t*>(buffer.get(elements * sizeof(uint16_t)));
}

}  // namespace sg::onednn
