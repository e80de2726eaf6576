#include "engine/onednn/im2col_nhwc.h"

#include <cstring>

#include "engine/error.h"
#include "engine/onednn/context.h"

namespace sg::onednn {

namespace {

// For every output pixel p and every tap t = r*S + s of its window (in reverse order with
// `reversed_taps`): put(p, t, the C input channels the tap reads, or nullptr outside x).
template <typename Put>
void gather_taps(const uint16_t* x, const Shape& x_shape, const Shape& out_shape, int64_t R,
                 int64_t S, Conv2dOptions o, bool reversed_taps, Put put) {
  const int64_t C = x_shape[1], H = x_shape[2], W = x_shape[3];
  const int64_t Ho = out_shape[2], Wo = out_shape[3], pixels = out_shape[0] * Ho * Wo;
  // Each pixel's row is R*S channel runs: few, long copies, spread over the threads.
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pixels; ++p) {
    const int64_t n = p / (Ho * Wo), ho = p / Wo % Ho, wo = p % Wo;
    for (int64_t r = 0; r < R; ++r) {
      const int64_t hi = ho * o.stride - o.padding + (reversed_taps ? R - 1 - r : r);
      for (int64_t s = 0; s < S; ++s) {
        const int64_t wi = wo * o.stride - o.padding + (reversed_taps ? S - 1 - s : s);
        bool inside = hi >= 0 && hi < H && wi >= 0 && wi < W;
        put(p, r * S + s, inside ? x + ((n * H + hi) * W + wi) * C : nullptr);
      }
    }
  }
}

}  // namespace

void im2col_nhwc(const uint16_t* x, const Shape& x_shape, const Shape& out_shape, int64_t R,
                 int64_t S, Conv2dOptions o, bool reversed_taps, uint16_t* cols) {
  const size_t C = size_t(x_shape[1]), row = size_t(R * S) * C;
  gather_taps(x, x_shape, out_shape, R, S, o, reversed_taps,
              [&](int64_t p, int64_t tap, const uint16_t* from) {
                uint16_t* to = cols + size_t(p) * row + size_t(tap) * C;
                if (from != nullptr)
                  std::memcpy(to, from, C * sizeof(uint16_t));
                else
                  std::memset(to, 0, C * sizeof(uint16_t));
              });
}

void im2col_nhwc_tiles(const uint16_t* x, const Shape& x_shape, const Shape& out_shape, int64_t R,
                       int64_t S, Conv2dOptions o, bool reversed_taps, uint16_t* tiles) {
  const int64_t C = x_shape[1], k = R * S * C;
  const int64_t pixels = out_shape[0] * out_shape[2] * out_shape[3];
  SG_CHECK(C % 32 == 0, "im2col_nhwc_tiles: ", C, " channels, expected a multiple of 32");
  // Element (p, j) of the matrix at ((p/16) * (k/32) + j/32) * 512 + (p%16) * 32 + j%32: each
  // channel run splits into runs of 32, one per tile.
  auto run_of_32 = [&](int64_t p, int64_t j) {
    return tiles + ((p / 16) * (k / 32) + j / 32) * 512 + (p % 16) * 32;
  };
  gather_taps(x, x_shape, out_shape, R, S, o, reversed_taps,
              [&](int64_t p, int64_t tap, const uint16_t* from) {
                for (int64_t c = 0; c < C; c += 32) {
                  uint16_t* to = run_of_32(p, tap * C + c);
                  if (from != nullptr)
                    std::memcpy(to, from + c, 32 * sizeof(uint16_t));
                  else
                    std::memset(to, 0, 32 * sizeof(uint16_t));
                }
              });
  // The rows that pad the last block of 32 are zeros.
  for (int64_t p = pixels; p < (pixels + 31) / 32 * 32; ++p)
    for (int64_t j = 0; j < k; j += 32) std::memset(run_of_32(p, j), 0, 32 * sizeof(uint16_t));
}

uint16_t* im2col_scratch(size_t elements) {
  thread_local ScratchBuffer buffer;
  return reinterpret_cast<uint16_t*>(buffer.get(elements * sizeof(uint16_t)));
}

}  // namespace sg::onednn
