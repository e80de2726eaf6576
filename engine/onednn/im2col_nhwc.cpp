#include "engine/onednn/im2col_nhwc.h"

#include <immintrin.h>

#include <array>
#include <cstring>
#include <map>
#include <vector>

#include "engine/error.h"
#include "engine/onednn/context.h"

namespace sg::onednn {

namespace {

// Where tap (r, s) of output pixel p reads its C channels in x, or nullptr outside x. The
// window's taps in reverse order with `reversed_taps`.
struct TapReader {
  const uint16_t* x;
  int64_t C, H, W, Ho, Wo;
  Conv2dOptions o;
  bool reversed;
  int64_t R, S;
  const uint16_t* operator()(int64_t p, int64_t r, int64_t s) const {
    const int64_t n = p / (Ho * Wo), ho = p / Wo % Ho, wo = p % Wo;
    const int64_t hi = ho * o.stride - o.padding + (reversed ? R - 1 - r : r);
    const int64_t wi = wo * o.stride - o.padding + (reversed ? S - 1 - s : s);
    bool inside = hi >= 0 && hi < H && wi >= 0 && wi < W;
    return inside ? x + ((n * H + hi) * W + wi) * C : nullptr;
  }
};

TapReader tap_reader(const uint16_t* x, const Shape& x_shape, const Shape& out_shape, int64_t R,
                     int64_t S, Conv2dOptions o, bool reversed_taps) {
  return {x, x_shape[1],    x_shape[2], x_shape[3], out_shape[2], out_shape[3],
          o, reversed_taps, R,          S};
}

// For every output pixel p and every tap t = r*S + s of its window: put(p, t, the C input
// channels the tap reads, or nullptr outside x).
template <typename Put>
void gather_taps(const uint16_t* x, const Shape& x_shape, const Shape& out_shape, int64_t R,
                 int64_t S, Conv2dOptions o, bool reversed_taps, Put put) {
  const TapReader read = tap_reader(x, x_shape, out_shape, R, S, o, reversed_taps);
  const int64_t pixels = out_shape[0] * out_shape[2] * out_shape[3];
  // Each pixel's row is R*S channel runs: few, long copies, spread over the threads.
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pixels; ++p)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t s = 0; s < S; ++s) put(p, r * S + s, read(p, r, s));
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

namespace {

// One block of 32 rows of column panels: run t of rows i and i + 1 (from[i * runs + t], nullptr
// for zeros), 32 channels at a time, interleaved into pair row i / 2 of two panels, panel
// (t * C + c) / 16 at block_panels + that * panel_stride. AVX-512BW: every caller is on the amx
// tier. (Two loads, two unpacks, two permutes and two stores for 128 bytes, where eight-channel
// SSE2 loads took eight of each but the permutes.)
[[gnu::target("avx512f,avx512bw")]] void interleave_rows(const uint16_t* const* from, int64_t runs,
                                                         int64_t C, int64_t panel_stride,
                                                         uint16_t* block_panels) {
  // The unpacks leave channels 0-3 and 8-11 (lanes 0, 1 of lo), 4-7 and 12-15 (of hi) for the
  // first panel, lanes 2 and 3 for the second: 64-bit elements in the order of the pair row.
  const __m512i first = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
  const __m512i second = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
  for (int64_t t = 0; t < runs; ++t)
    for (int64_t c = 0; c < C; c += 32) {
      uint16_t* to = block_panels + (t * C + c) / 16 * panel_stride;
      for (int64_t i = 0; i < 32; i += 2, to += 32) {
        const uint16_t* fa = from[i * runs + t];
        const uint16_t* fb = from[(i + 1) * runs + t];
        const __m512i a = fa != nullptr ? _mm512_loadu_si512(fa + c) : _mm512_setzero_si512();
        const __m512i b = fb != nullptr ? _mm512_loadu_si512(fb + c) : _mm512_setzero_si512();
        const __m512i lo = _mm512_unpacklo_epi16(a, b), hi = _mm512_unpackhi_epi16(a, b);
        _mm512_storeu_si512(to, _mm512_permutex2var_epi64(lo, first, hi));
        _mm512_storeu_si512(to + panel_stride, _mm512_permutex2var_epi64(lo, second, hi));
      }
    }
}

// Column panels of `rows` rows (a multiple of 32) whose row p is `runs` runs of C channels (a
// multiple of 32), run t read from from(p, t) (nullptr: zeros). Element (p, j) at (j/16) * rows
// * 16 + (p/2) * 32 + (j%16) * 2 + p%2: two rows' runs of 16 channels interleave into 64
// contiguous bytes. 32 rows at a time, so that each panel gets 1 KB in order, with each row's
// sources found once (im2col of 512 channels at 4x4, batch 64: 0.38 ms; row pair by pair, the
// writes jumping between R*S*C/16 panels, 0.65-0.74; panel by panel, the sources found again
// for each panel, 2.3; all three with SSE2).
class PanelPacker {
 public:
  // Panels panel_stride elements apart (rows * 16 for panels of `rows` rows).
  PanelPacker(int64_t panel_stride, int64_t runs, int64_t C)
      : panel_stride_(panel_stride), runs_(runs), C_(C), from_(size_t(32 * runs)) {
    SG_CHECK(C % 32 == 0, "column panels: ", C, " channels, expected a multiple of 32");
    SG_CHECK(__builtin_cpu_supports("avx512bw"), "column panels need AVX-512BW");
  }

  // Rows 32 * block .. 32 * block + 31 into their places in the panels.
  template <typename From>
  void pack(int64_t block, const From& from_of, uint16_t* panels) {
    for (int64_t i = 0; i < 32; ++i)
      for (int64_t t = 0; t < runs_; ++t) from_[size_t(i * runs_ + t)] = from_of(block * 32 + i, t);
    interleave_rows(from_.data(), runs_, C_, panel_stride_, panels + block * 16 * 32);
  }

 private:
  int64_t panel_stride_, runs_, C_;
  std::vector<const uint16_t*> from_;  // each row's sources, found once per row
};

template <typename From>
void pack_panels(int64_t rows, int64_t runs, int64_t C, const From& from_of, uint16_t* panels) {
#pragma omp parallel
  {
    PanelPacker packer(rows * 16, runs, C);
#pragma omp for schedule(static)
    for (int64_t block = 0; block < rows / 32; ++block) packer.pack(block, from_of, panels);
  }
}

}  // namespace

void im2col_nhwc_panels(const uint16_t* x, const Shape& x_shape, const Shape& out_shape, int64_t R,
                        int64_t S, Conv2dOptions o, int64_t first_pixel, int64_t pixels,
                        uint16_t* panels) {
  const int64_t C = x_shape[1];
  SG_CHECK(C % 32 == 0, "im2col_nhwc_panels: ", C, " channels, expected a multiple of 32");
  const TapReader read = tap_reader(x, x_shape, out_shape, R, S, o, false);
  pack_panels((pixels + 31) / 32 * 32, R * S, C,
              [&](int64_t p, int64_t t) {
                return p < pixels ? read(first_pixel + p, t / S, t % S) : nullptr;
              },
              panels);
}

void grid_pixels(const uint16_t* x, int64_t channels, const PixelGrid& g, uint16_t* pixels) {
  const int64_t C = channels, H = g.height, W = g.width;
  const size_t pixel_bytes = size_t(C) * sizeof(uint16_t);
  uint16_t* origin = pixels + g.margin() * C;  // position 0
  std::memset(pixels, 0, size_t(g.margin()) * pixel_bytes);
#pragma omp parallel for schedule(static)
  for (int64_t nh = 0; nh < g.images * H; ++nh) {
    const int64_t h = nh % H, q = g.position(nh / H, h, 0);
    std::memcpy(origin + q * C, x + nh * W * C, size_t(W) * pixel_bytes);
    // The zero columns after the row and, after an image's last row, the zero rows.
    const int64_t zeros = g.pad + (h == H - 1 ? g.pad * g.row() : 0);
    std::memset(origin + (q + W) * C, 0, size_t(zeros) * pixel_bytes);
  }
  const int64_t tail = g.padded_positions() - g.positions() + g.margin();
  std::memset(origin + g.positions() * C, 0, size_t(tail) * pixel_bytes);
}

GridPixelIndex::GridPixelIndex(const PixelGrid& g)
    : GridPixelIndex(g, 1, 0, 0, g.height, g.width) {}

GridPixelIndex::GridPixelIndex(const PixelGrid& g, int64_t s, int64_t row_phase, int64_t col_phase,
                               int64_t height, int64_t width)
    : grid_(g), index_(size_t(g.positions()), -1) {
  for (int64_t n = 0; n < g.images; ++n)
    for (int64_t h = 0; h < g.height; ++h)
      for (int64_t w = 0; w < g.width; ++w) {
        const int64_t row = s * h + row_phase, col = s * w + col_phase;
        if (row < height && col < width)
          index_[size_t(g.position(n, h, w))] = int32_t((n * height + row) * width + col);
      }
}

const GridPixelIndex& cached_grid_pixel_index(const PixelGrid& g, int64_t s, int64_t row_phase,
                                              int64_t col_phase, int64_t height, int64_t width) {
  using Key = std::array<int64_t, 9>;
  thread_local std::map<Key, GridPixelIndex> cache;
  const Key key{g.images, g.height, g.width, g.pad, s, row_phase, col_phase, height, width};
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache.emplace(key, GridPixelIndex(g, s, row_phase, col_phase, height, width)).first;
  return it->second;
}

namespace {
// Rows r[0..31] of 32 16-bit values become the columns, r[i][c] -> r[c][i]: pairs, quads and
// eights of rows interleave within each 128-bit lane, then the lanes of four registers change
// places (160 shuffles for 2 KB, where 8x8 SSE2 transposes take 384).
// GCC 12's AVX-512 intrinsics (_mm512_unpack*_epi32 and others) pass a self-initialised
// "undefined" vector as the unused merge source, which -W(maybe-)uninitialized reports where
// they are inlined (GCC bug 105593, fixed in GCC 13): silenced from here to the end of
// transpose_tile_pair, the file's AVX-512 transposes. Clang (the sanitizer build) has neither
// the warnings nor the bug.
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
[[gnu::target("avx512f,avx512bw")]] inline void transpose_32x32_epi16(__m512i r[32]) {
  // pairs[2i], pairs[2i + 1]: rows 2i and 2i + 1 side by side, channels 8L + 0..3 and
  // 8L + 4..7 of lane L.
  __m512i pairs[32], quads[32], eights[32];
  for (int i = 0; i < 16; ++i) {
    pairs[2 * i] = _mm512_unpacklo_epi16(r[2 * i], r[2 * i + 1]);
    pairs[2 * i + 1] = _mm512_unpackhi_epi16(r[2 * i], r[2 * i + 1]);
  }
  // quads[4j + q]: rows 4j .. 4j + 3 of channels 8L + 2q and 8L + 2q + 1.
  for (int j = 0; j < 8; ++j) {
    quads[4 * j] = _mm512_unpacklo_epi32(pairs[4 * j], pairs[4 * j + 2]);
    quads[4 * j + 1] = _mm512_unpackhi_epi32(pairs[4 * j], pairs[4 * j + 2]);
    quads[4 * j + 2] = _mm512_unpacklo_epi32(pairs[4 * j + 1], pairs[4 * j + 3]);
    quads[4 * j + 3] = _mm512_unpackhi_epi32(pairs[4 * j + 1], pairs[4 * j + 3]);
  }
  // eights[8m + k]: rows 8m .. 8m + 7 of channel 8L + k in lane L.
  for (int m = 0; m < 4; ++m)
    for (int q = 0; q < 4; ++q) {
      eights[8 * m + 2 * q] = _mm512_unpacklo_epi64(quads[8 * m + q], quads[8 * m + 4 + q]);
      eights[8 * m + 2 * q + 1] = _mm512_unpackhi_epi64(quads[8 * m + q], quads[8 * m + 4 + q]);
    }
  // Channel 8L + k: lane L of eights[k], eights[8 + k], eights[16 + k] and eights[24 + k].
  for (int k = 0; k < 8; ++k) {
    const __m512i x0 = _mm512_shuffle_i32x4(eights[k], eights[8 + k], 0x44);
    const __m512i x1 = _mm512_shuffle_i32x4(eights[k], eights[8 + k], 0xEE);
    const __m512i x2 = _mm512_shuffle_i32x4(eights[16 + k], eights[24 + k], 0x44);
    const __m512i x3 = _mm512_shuffle_i32x4(eights[16 + k], eights[24 + k], 0xEE);
    r[k] = _mm512_shuffle_i32x4(x0, x2, 0x88);
    r[8 + k] = _mm512_shuffle_i32x4(x0, x2, 0xDD);
    r[16 + k] = _mm512_shuffle_i32x4(x1, x3, 0x88);
    r[24 + k] = _mm512_shuffle_i32x4(x1, x3, 0xDD);
  }
}
}  // namespace

[[gnu::target("avx512f,avx512bw")]] void grid_paired_rows(const uint16_t* dy, int64_t channels,
                                                          const GridPixelIndex& index,
                                                          int64_t first_value, int64_t count,
                                                          uint16_t* rows, int64_t row_stride) {
  SG_CHECK(channels % 32 == 0 && first_value % 32 == 0 && count % 32 == 0,
           "grid_paired_rows: ", channels, " channels from value ", first_value, ", ", count,
           " values, expected multiples of 32");
  SG_CHECK(__builtin_cpu_supports("avx512bw"), "grid_paired_rows needs AVX-512BW");
  const int64_t C = channels, half = index.grid().half();
  // 32 values along the rows (16 pairs) at a time: 32x32 transposes of their positions' channels.
  for (int64_t block = 0; block < count / 32; ++block) {
    const uint16_t* from[32];
    for (int64_t i = 0; i < 32; ++i) {
      const int64_t value = first_value + 32 * block + i;
      from[i] = index.pixel(dy, C, value / 2 + value % 2 * half);
    }
    for (int64_t c0 = 0; c0 < C; c0 += 32) {
      __m512i v[32];
      for (int64_t i = 0; i < 32; ++i)
        v[i] = from[i] != nullptr ? _mm512_loadu_si512(from[i] + c0) : _mm512_setzero_si512();
      transpose_32x32_epi16(v);
      for (int64_t i = 0; i < 32; ++i)
        _mm512_storeu_si512(rows + (c0 + i) * row_stride + 32 * block, v[i]);
    }
  }
}

void grid_paired_panels(const uint16_t* x, int64_t channels, const GridPixelIndex& index,
                        int64_t first_pair, int64_t pairs, uint16_t* panels, int64_t panel_stride) {
  SG_CHECK(channels % 32 == 0 && pairs % 16 == 0, "grid_paired_panels: ", channels,
           " channels and ", pairs, " pairs, expected multiples of 32 and 16");
  const int64_t half = index.grid().half();
  // Row p of the panels interleaves with row p + 1 into pair row p / 2: here positions
  // first_pair + p / 2 and the same plus half.
  const auto from = [&](int64_t p, int64_t) {
    return index.pixel(x, channels, first_pair + p / 2 + p % 2 * half);
  };
  PanelPacker packer(panel_stride, 1, channels);
  for (int64_t block = 0; block < 2 * pairs / 32; ++block) packer.pack(block, from, panels);
}

namespace {
// Tiles (band, block) and (band + 1, block) of transpose_nhwc_tiles: 32 pixels' 32 channels,
// after the transpose one tile row per register. (Its own function, not the body of the
// parallel loop: the loop's outlined body would not carry the AVX-512 target with clang.)
[[gnu::target("avx512f,avx512bw")]] void transpose_tile_pair(const uint16_t* y, int64_t pixels,
                                                             int64_t channels, int64_t band,
                                                             int64_t block, int64_t blocks,
                                                             uint16_t* tiles) {
  __m512i v[32];
  for (int64_t i = 0; i < 32; ++i) {
    const int64_t p = block * 32 + i;
    v[i] = p < pixels ? _mm512_loadu_si512(y + p * channels + band * 16) : _mm512_setzero_si512();
  }
  transpose_32x32_epi16(v);
  for (int64_t c = 0; c < 32; ++c)
    _mm512_storeu_si512(tiles + ((band + c / 16) * blocks + block) * 512 + (c % 16) * 32, v[c]);
}
}  // namespace
#pragma GCC diagnostic pop

void transpose_nhwc_tiles(const uint16_t* y, int64_t pixels, int64_t channels, uint16_t* tiles) {
  const int64_t cols = (pixels + 31) / 32 * 32;
  SG_CHECK(channels % 32 == 0, "transpose_nhwc_tiles: ", channels,
           " channels, expected a multiple of 32");
  SG_CHECK(__builtin_cpu_supports("avx512bw"), "transpose_nhwc_tiles needs AVX-512BW");
  // Tile (band, block): channels 16*band.., pixels 32*block..; element (k, p) at
  // ((k/16) * (cols/32) + p/32) * 512 + (k%16) * 32 + p%32.
  const int64_t bands = channels / 16, blocks = cols / 32;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < bands / 2 * blocks; ++t)
    transpose_tile_pair(y, pixels, channels, t / blocks * 2, t % blocks, blocks, tiles);
}

uint16_t* im2col_scratch(size_t elements) {
  thread_local ScratchBuffer buffer;
  return reinterpret_cast<uint16_t*>(buffer.get(elements * sizeof(uint16_t)));
}

}  // namespace sg::onednn
