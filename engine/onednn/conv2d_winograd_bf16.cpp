// F(2x2, 3x3) Winograd convolution on AVX-512 BF16 (see the header for the why).
//
// This file alone is compiled with AVX-512 BF16 enabled (engine/CMakeLists.txt), so it uses
// raw pointers and no C++ library templates: an inline function instantiated here could
// otherwise be picked by the linker for code that runs on CPUs without these instructions.
// Callers check avx512_bf16_usable() first (kernel_choice.h).
//
// With d a 4x4 input tile and g a 3x3 kernel (Lavin & Gray, 2015):
//   V = Bt d B, U = G g Gt, output tile Y = At (sum over input channels of U * V) A
// where * multiplies element by element. For each of the 16 positions p of the 4x4 tile the
// channel sum is a matrix product [tiles x C] x [C x K], computed with `vdpbf16ps`.
#include "engine/onednn/conv2d_winograd_bf16.h"
#include "engine/onednn/bf16_pair_products.h"
#include "engine/onednn/bf16_vectors.h"
#include "engine/onednn/scratch_sizes.h"

#include <immintrin.h>
#include <omp.h>

namespace sg::onednn::winograd_bf16 {

namespace {

constexpr int64_t kTileBlock = 12;  // tiles per micro-kernel: 12 x 2 accumulators + 2 weights
constexpr int64_t kOutBlock = 32;   // output channels per micro-kernel (two zmm of float32)
// Transformed input tiles go through in chunks that stay in the L2 cache while every
// output-channel block reads them; each block's weights are contiguous, so they stream well
// when they do not fit in L2 (tried: transforming the whole batch first and giving each
// thread whole output-channel blocks was no faster for 256-512 channels, slower for 64).
constexpr int64_t kChunkBytes = 256 * 1024;

// The 16 tile positions of transformed tiles (V, dM) lie `position_stride` bf16 values apart:
// `values`, the rows of one position, plus a cache line where `values` fills whole 4 KiB
// pages. Every tile writes all 16 positions, and 16 streams a multiple of 4 KiB apart all
// fall into one set of the L1 cache (12 ways on AMD Zen 5), which evicts them before their
// lines are complete: with 256 channels at 8x8 (24-tile chunks, 12 KiB per position) the
// input transform took 0.34 ms instead of 0.10. (dU's float32 sums, read across positions by
// the last transform of the weight gradient, likewise.)
int64_t position_stride(int64_t values, int64_t value_bytes = 2) {
  return values * value_bytes % 4096 == 0 ? values + 64 / value_bytes : values;
}

struct Geometry {
  int64_t n, c, k, h, w;
  int64_t tiles_h, tiles_w, tiles = 0;
  int64_t chunk = 0;       // tiles per chunk, a multiple of kTileBlock
  int64_t v_position = 0;  // V's position stride, in bf16 values
  int64_t v_bytes() const { return align64(16 * v_position * 2); }
  static constexpr int64_t m_bytes = 16 * kTileBlock * kOutBlock * 4;
};

Geometry geometry(const Problem& p) {
  Geometry g{p.batch, p.in_channels,      p.out_channels,   p.height,
             p.width, (p.height + 1) / 2, (p.width + 1) / 2};
  g.tiles = g.n * g.tiles_h * g.tiles_w;
  int64_t all = round_up(g.tiles, kTileBlock);
  int64_t fit = kChunkBytes / (16 * g.c * 2) / kTileBlock * kTileBlock;
  g.chunk = fit < kTileBlock ? kTileBlock : fit > all ? all : fit;
  g.v_position = position_stride(g.chunk * g.c);
  return g;
}

// Read in place of the pixels outside the image, so that loading a tile needs no branches.
alignas(64) const uint16_t kZeroPixel[16] = {};

// V[p][t][c] (positions `position` values apart) for tiles [first, first + count); rows up
// to `padded` are zero, so micro-kernels can always take kTileBlock rows.
//
// Neighbouring tiles of a tile row overlap by two pixel columns and Bt d works column by
// column, so each column's Bt d is computed once for both tiles, and the tile geometry once
// per run of tiles along a row (64 channels at 32x32, batch 64, 2 threads: 0.58 -> 0.35 ms
// on AMD Zen 5; computing every tile on its own, the per-tile index arithmetic dominated).
void transform_input(const Geometry& g, const uint16_t* src, int64_t first, int64_t count,
                     int64_t padded, int64_t position, uint16_t* v) {
  const int64_t blocks = g.c / 16, plane = g.h * g.w * 16;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t t = count; t < padded; ++t)
    for (int64_t p = 0; p < 16; ++p)
      for (int64_t cb = 0; cb < blocks; ++cb)
        store_bf16(v + p * position + t * g.c + cb * 16, zero);
  for (int64_t t = 0; t < count;) {
    // A run of tiles along one tile row of one image.
    const int64_t tile = first + t, image = tile / (g.tiles_h * g.tiles_w);
    const int64_t rest = tile % (g.tiles_h * g.tiles_w), tile_x = rest % g.tiles_w;
    const int64_t run = count - t < g.tiles_w - tile_x ? count - t : g.tiles_w - tile_x;
    const int64_t y0 = rest / g.tiles_w * 2 - 1, x0 = tile_x * 2 - 1, columns = 2 * run + 2;
    const uint16_t* image_base = src + image * blocks * plane;
    for (int64_t cb = 0; cb < blocks; ++cb) {
      const uint16_t* block_base = image_base + cb * plane;
      // Rows outside the image are read from kZeroPixel (their column offsets masked to 0),
      // so a column's loads need no branch; a column outside the image is zero.
      const uint16_t* row[4];
      int64_t column_mask[4];
      for (int i = 0; i < 4; ++i) {
        bool inside = y0 + i >= 0 && y0 + i < g.h;
        row[i] = inside ? block_base + (y0 + i) * g.w * 16 : kZeroPixel;
        column_mask[i] = inside ? ~int64_t(0) : 0;
      }
      // Bt d of column `col` of the run (x = x0 + col).
      auto column = [&](int64_t col, __m512 r[4]) {
        const int64_t x = x0 + col;
        if (x < 0 || x >= g.w) {
          r[0] = r[1] = r[2] = r[3] = zero;
          return;
        }
        __m512 d[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) d[i] = load_bf16(row[i] + (x * 16 & column_mask[i]));
        r[0] = _mm512_sub_ps(d[0], d[2]);
        r[1] = _mm512_add_ps(d[1], d[2]);
        r[2] = _mm512_sub_ps(d[2], d[1]);
        r[3] = _mm512_sub_ps(d[1], d[3]);
      };
      __m512 r[4][4];  // Bt d of the tile's four columns, [column][row]
      column(0, r[0]);
      column(1, r[1]);
      uint16_t* out = v + t * g.c + cb * 16;
      for (int64_t col = 2; col < columns; col += 2, out += g.c) {
        column(col, r[2]);
        column(col + 1, r[3]);
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {  // (Bt d) B
          store_bf16(out + (i * 4 + 0) * position, _mm512_sub_ps(r[0][i], r[2][i]));
          store_bf16(out + (i * 4 + 1) * position, _mm512_add_ps(r[1][i], r[2][i]));
          store_bf16(out + (i * 4 + 2) * position, _mm512_sub_ps(r[2][i], r[1][i]));
          store_bf16(out + (i * 4 + 3) * position, _mm512_sub_ps(r[1][i], r[3][i]));
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {  // the next tile's first two columns
          r[0][i] = r[2][i];
          r[1][i] = r[3][i];
        }
      }
    }
    t += run;
  }
}

// m[t][s*16..] = sum over c of V[t][c] U[c][k0 + s*16..] for kTileBlock tiles and S blocks
// of 16 output channels, at one tile position. v: this position's first tile row; u: this
// position's weights for the block's output channels, [c/2][S*16][2].
template <int S>
void multiply_block(const uint16_t* v, const uint16_t* u, int64_t c, float* m) {
  __m512 acc[kTileBlock][S];
#pragma GCC unroll 12
  for (int t = 0; t < kTileBlock; ++t)
#pragma GCC unroll 2
    for (int s = 0; s < S; ++s) acc[t][s] = _mm512_setzero_ps();
  for (int64_t pair = 0; pair < c / 2; ++pair) {
    __m512bh w[S];
#pragma GCC unroll 2
    for (int s = 0; s < S; ++s)
      w[s] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(u + (pair * S + s) * 32));
#pragma GCC unroll 12
    for (int t = 0; t < kTileBlock; ++t) {
      __m512bh x = bf16_pairs::broadcast_pair(v + t * c + pair * 2);
#pragma GCC unroll 2
      for (int s = 0; s < S; ++s) acc[t][s] = _mm512_dpbf16_ps(acc[t][s], w[s], x);
    }
  }
#pragma GCC unroll 12
  for (int t = 0; t < kTileBlock; ++t)
#pragma GCC unroll 2
    for (int s = 0; s < S; ++s) _mm512_store_ps(m + (t * S + s) * 16, acc[t][s]);
}

// Y = At M A for the block's tiles, written into dst (nChw16c) where inside the image.
void transform_output(const Geometry& g, const float* m, int s_blocks, int64_t first_tile,
                      int64_t count, int64_t k0, uint16_t* dst) {
  const int64_t blocks = g.k / 16, plane = g.h * g.w * 16;
  const int64_t position = kTileBlock * s_blocks * 16;  // floats per tile position in m
  for (int64_t t = 0; t < count; ++t) {
    int64_t tile = first_tile + t, image = tile / (g.tiles_h * g.tiles_w);
    int64_t rest = tile % (g.tiles_h * g.tiles_w);
    int64_t y0 = rest / g.tiles_w * 2, x0 = rest % g.tiles_w * 2;
    for (int s = 0; s < s_blocks; ++s) {
      const float* at = m + (t * s_blocks + s) * 16;
      __m512 r[2][4];  // At M
      for (int j = 0; j < 4; ++j) {
        __m512 m0 = _mm512_load_ps(at + (0 * 4 + j) * position);
        __m512 m1 = _mm512_load_ps(at + (1 * 4 + j) * position);
        __m512 m2 = _mm512_load_ps(at + (2 * 4 + j) * position);
        __m512 m3 = _mm512_load_ps(at + (3 * 4 + j) * position);
        r[0][j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
        r[1][j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
      }
      uint16_t* base = dst + (image * blocks + k0 / 16 + s) * plane;
      for (int i = 0; i < 2; ++i) {
        if (y0 + i >= g.h) continue;
        __m512 y[2] = {_mm512_add_ps(_mm512_add_ps(r[i][0], r[i][1]), r[i][2]),
                       _mm512_sub_ps(_mm512_sub_ps(r[i][1], r[i][2]), r[i][3])};
        for (int j = 0; j < 2; ++j)
          if (x0 + j < g.w) store_bf16(base + ((y0 + i) * g.w + x0 + j) * 16, y[j]);
      }
    }
  }
}

}  // namespace

// GCC 12 reports the undefined vectors inside the unpack and shuffle intrinsics of
// transpose_16x16 as maybe uninitialised where it is inlined (GCC bug 105593, fixed in GCC 13):
// silenced from here to the end of the file, over its callers (the weight transform, and the
// weight gradient's functions, into which transform_weight_grad is inlined). Clang has
// neither the warning nor the bug.
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
void transform_weights(const float* w, int64_t k, int64_t c, bool for_backward_data, uint16_t* u,
                       int threads) {
  const int64_t in = for_backward_data ? k : c, out = for_backward_data ? c : k;
  const __m512i pairs = bf16_pairs::interleave_halves();  // input-channel pairs side by side
  // Vectors run over 16 output channels. Each lane's nine taps are contiguous in w, so they
  // are loaded as the rows of a 16 x 16 matrix and transposed (gathering the vectors lane by
  // lane from w was 2-3x slower on AMD Zen 5). Each thread takes whole 32-channel output
  // blocks and walks the input pairs in order, so its writes are sequential streams.
  const int64_t row_step = for_backward_data ? 9 : c * 9;  // between w's output channels
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t block = 0; block < out; block += kOutBlock)
    for (int64_t i2 = 0; i2 < in / 2; ++i2)
      for (int64_t o0 = block; o0 < block + kOutBlock && o0 < out; o0 += 16) {
        __m512 value[2][16];  // [input of the pair][position], float32
        for (int64_t h = 0; h < 2; ++h) {
          const int64_t i = 2 * i2 + h;
          // Row j: the kernel from input i to output o0 + j (rotated for backward data).
          const float* first = for_backward_data ? w + (i * c + o0) * 9 : w + (o0 * c + i) * 9;
          __m512 rows[16];
          // The same rows eight inputs ahead: in the step the optimizer has just written w, and
          // without prefetching these strided loads waited on memory (512x512, w out of cache:
          // 0.44-0.71 -> 0.34-0.41 ms forward, 0.76-1.34 -> 0.31-0.54 ms backward data).
          const float* ahead = first + (for_backward_data ? 8 * c * 9 : 8 * 9);
          if (i + 8 < in)
            for (int j = 0; j < 16; ++j)
              _mm_prefetch(reinterpret_cast<const char*>(ahead + j * row_step), _MM_HINT_T0);
          for (int j = 0; j < 16; ++j) rows[j] = _mm512_maskz_loadu_ps(0x1ff, first + j * row_step);
          transpose_16x16(rows);
          __m512 g[9];  // g[a*3+b]: tap (a, b) for the 16 outputs
          for (int ab = 0; ab < 9; ++ab) g[ab] = rows[for_backward_data ? 8 - ab : ab];
          const __m512 half_scale = _mm512_set1_ps(0.5f);
          __m512 r[4][3];  // G g
          for (int b = 0; b < 3; ++b) {
            __m512 g0 = g[b], g1 = g[3 + b], g2 = g[6 + b];
            r[0][b] = g0;
            r[1][b] = _mm512_mul_ps(half_scale, _mm512_add_ps(_mm512_add_ps(g0, g1), g2));
            r[2][b] = _mm512_mul_ps(half_scale, _mm512_add_ps(_mm512_sub_ps(g0, g1), g2));
            r[3][b] = g2;
          }
          for (int a = 0; a < 4; ++a) {  // (G g) Gt
            __m512 e[4] = {
                r[a][0],
                _mm512_mul_ps(half_scale, _mm512_add_ps(_mm512_add_ps(r[a][0], r[a][1]), r[a][2])),
                _mm512_mul_ps(half_scale, _mm512_add_ps(_mm512_sub_ps(r[a][0], r[a][1]), r[a][2])),
                r[a][2]};
            for (int b = 0; b < 4; ++b) value[h][a * 4 + b] = e[b];
          }
        }
        for (int64_t pos = 0; pos < 16; ++pos) {
          // Rounded to nearest even like the activations; input 2*i2 low, 2*i2+1 high.
          __m512i both =
              reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(value[1][pos], value[0][pos]));
          // Layout [pos][out / 32][in / 2][32][2]: one output-channel block's weights are
          // contiguous (the last block has 16 channels when out is an odd multiple of 16).
          int64_t width = out - block < kOutBlock ? out - block : kOutBlock;
          _mm512_storeu_si512(u + pos * in * out + block * in + (i2 * width + o0 - block) * 2,
                              _mm512_permutexvar_epi16(pairs, both));
        }
      }
}

int64_t scratch_bytes(const Problem& p, int threads) {
  Geometry g = geometry(p);
  return threads * thread_area_stride(g.v_bytes() + Geometry::m_bytes);
}

namespace {
// Output channels [k0, k0 + 32) of tiles [first, first + count), whose transformed inputs are
// the rows of v.
void multiply_and_transform_output(const Geometry& g, const uint16_t* v, int64_t first,
                                   int64_t count, int64_t k0, const uint16_t* u, float* m,
                                   uint16_t* dst) {
  int s_blocks = g.k - k0 >= kOutBlock ? 2 : 1;
  for (int64_t t0 = 0; t0 < count; t0 += kTileBlock) {
    for (int64_t pos = 0; pos < 16; ++pos) {
      const uint16_t* vp = v + pos * g.v_position + t0 * g.c;
      const uint16_t* up = u + pos * g.c * g.k + k0 * g.c;
      float* mp = m + pos * kTileBlock * s_blocks * 16;
      if (s_blocks == 2)
        multiply_block<2>(vp, up, g.c, mp);
      else
        multiply_block<1>(vp, up, g.c, mp);
    }
    int64_t n = count - t0 < kTileBlock ? count - t0 : kTileBlock;
    transform_output(g, m, s_blocks, first + t0, n, k0, dst);
  }
}
}  // namespace

void convolve(const Problem& p, const uint16_t* src, const uint16_t* u, uint16_t* dst,
              char* scratch, int threads) {
  const Geometry g = geometry(p);
  const int64_t chunks = (g.tiles + g.chunk - 1) / g.chunk;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    char* mine =
        scratch + omp_get_thread_num() * thread_area_stride(g.v_bytes() + Geometry::m_bytes);
    uint16_t* v = reinterpret_cast<uint16_t*>(mine);
    float* m = reinterpret_cast<float*>(mine + g.v_bytes());
    int64_t first = chunk * g.chunk;
    int64_t count = g.tiles - first < g.chunk ? g.tiles - first : g.chunk;
    transform_input(g, src, first, count, round_up(count, kTileBlock), g.v_position, v);
    for (int64_t k0 = 0; k0 < g.k; k0 += kOutBlock)
      multiply_and_transform_output(g, v, first, count, k0, u, m, dst);
  }
}

// ---- weight gradient ------------------------------------------------------------------------
// Y = At M A with M = sum over c of U * V gives, for the output gradient dY of a tile,
// dM = A dY At, and summed over tiles dU = sum of dM * V; then dg = Gt dU G. For each position
// p, dU_p [K x C] = dM_p^T [K x tiles] V_p [tiles x C]: the dot products run over pairs of
// tiles, so dM is stored with tile pairs side by side and V's rows are paired on the fly.

namespace {

// Wide layers (see weight_grad): a chunk of tiles is transformed by all threads, then the
// threads take pieces of positions; one position's tiles (V_p and dM_p) stay in L2 while it is
// multiplied.
constexpr int64_t kGradPositionBytes = 512 * 1024;

int64_t grad_chunk(const Geometry& g) {
  int64_t fit = kGradPositionBytes / (2 * (g.c + g.k)) / 2 * 2;
  int64_t all = round_up(g.tiles, 2);
  return fit < 2 ? 2 : fit > all ? all : fit;
}

// A chunk of `tiles` tiles (even) for the weight gradient: its V, and its dM with tile pairs
// side by side, each position_stride apart per position; and the sums dU (float32, K x C per
// position) they go into.
struct GradChunk {
  int64_t tiles, v_position, dm_position, du_position;
  GradChunk(const Geometry& g, int64_t tiles)
      : tiles(tiles),
        v_position(position_stride(tiles * g.c)),
        dm_position(position_stride(tiles * g.k)),
        du_position(position_stride(g.k * g.c, 4)) {}
  int64_t v_bytes() const { return align64(16 * v_position * 2); }
  int64_t dm_bytes() const { return align64(16 * dm_position * 2); }
  int64_t du_bytes() const { return align64(16 * du_position * 4); }
  int64_t total() const { return v_bytes() + dm_bytes() + du_bytes(); }
};

// dM for tiles (first, first + 1) of dY (nChw16c, channels g.k), stored at dm (the pair's
// row at position 0) as [16 positions, stride `position`][K][2]; a missing second tile is zero.
void transform_grad_pair(const Geometry& g, const uint16_t* dy, int64_t first, int64_t count,
                         int64_t position, uint16_t* dm) {
  const int64_t blocks = g.k / 16, plane = g.h * g.w * 16;
  const __m512 zero = _mm512_setzero_ps();
  const __m512i lanes = bf16_pairs::interleave_halves();  // tile pairs side by side
  for (int64_t kb = 0; kb < blocks; ++kb) {
    __m512 m[2][16];
    for (int64_t t = 0; t < 2; ++t) {
      if (t >= count) {
        for (int q = 0; q < 16; ++q) m[t][q] = zero;
        continue;
      }
      int64_t tile = first + t, image = tile / (g.tiles_h * g.tiles_w);
      int64_t rest = tile % (g.tiles_h * g.tiles_w);
      int64_t y0 = rest / g.tiles_w * 2, x0 = rest % g.tiles_w * 2;
      const uint16_t* base = dy + (image * blocks + kb) * plane;
      __m512 d[2][2];
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
          bool inside = y0 + i < g.h && x0 + j < g.w;
          d[i][j] = inside ? load_bf16(base + ((y0 + i) * g.w + x0 + j) * 16) : zero;
        }
      __m512 r[4][2];  // A dY
      for (int j = 0; j < 2; ++j) {
        r[0][j] = d[0][j];
        r[1][j] = _mm512_add_ps(d[0][j], d[1][j]);
        r[2][j] = _mm512_sub_ps(d[0][j], d[1][j]);
        r[3][j] = _mm512_sub_ps(zero, d[1][j]);
      }
      for (int i = 0; i < 4; ++i) {  // (A dY) At
        m[t][i * 4 + 0] = r[i][0];
        m[t][i * 4 + 1] = _mm512_add_ps(r[i][0], r[i][1]);
        m[t][i * 4 + 2] = _mm512_sub_ps(r[i][0], r[i][1]);
        m[t][i * 4 + 3] = _mm512_sub_ps(zero, r[i][1]);
      }
    }
    for (int q = 0; q < 16; ++q) {
      __m512i both = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(m[1][q], m[0][q]));
      _mm512_storeu_si512(dm + q * position + kb * 32, _mm512_permutexvar_epi16(lanes, both));
    }
  }
}

// dW[k][c] = Gt dU[k][c] G for 16 input channels at once; dU is [16][K][C], its positions
// `position` floats apart.
void transform_weight_grad(const Geometry& g, const float* du, int64_t position, int64_t k,
                           int64_t c0, float* dw) {
  const __m512 half = _mm512_set1_ps(0.5f);
  __m512 r[3][4];  // Gt dU
  for (int j = 0; j < 4; ++j) {
    __m512 u[4];
    for (int i = 0; i < 4; ++i) u[i] = _mm512_loadu_ps(du + (i * 4 + j) * position + k * g.c + c0);
    __m512 sum = _mm512_mul_ps(half, _mm512_add_ps(u[1], u[2]));
    r[0][j] = _mm512_add_ps(u[0], sum);
    r[1][j] = _mm512_mul_ps(half, _mm512_sub_ps(u[1], u[2]));
    r[2][j] = _mm512_add_ps(sum, u[3]);
  }
  // The nine taps of the 16 channels as the rows of a 16 x 16 block, transposed: each
  // channel's taps are then one contiguous run of dw (scattering them with a stride of 9
  // was slower on AMD Zen 5).
  __m512 taps[16];
  for (int a = 0; a < 3; ++a) {  // (Gt dU) G
    __m512 sum = _mm512_mul_ps(half, _mm512_add_ps(r[a][1], r[a][2]));
    taps[a * 3 + 0] = _mm512_add_ps(r[a][0], sum);
    taps[a * 3 + 1] = _mm512_mul_ps(half, _mm512_sub_ps(r[a][1], r[a][2]));
    taps[a * 3 + 2] = _mm512_add_ps(sum, r[a][3]);
  }
  for (int t = 9; t < 16; ++t) taps[t] = _mm512_setzero_ps();
  transpose_16x16(taps);
  float* out = dw + (k * g.c + c0) * 9;
  for (int j = 0; j < 16; ++j) _mm512_mask_storeu_ps(out + j * 9, 0x1ff, taps[j]);
}

}  // namespace

namespace {

// Pairs [pair_begin, pair_end) of the chunk's tiles [first, first + count) into its rows of v
// and dm (in one call of transform_input, which shares work between neighbouring tiles).
void transform_pairs(const Geometry& g, const uint16_t* x, const uint16_t* dy, int64_t first,
                     int64_t count, int64_t pair_begin, int64_t pair_end, const GradChunk& chunk,
                     uint16_t* v, uint16_t* dm) {
  const int64_t begin = 2 * pair_begin, end = 2 * pair_end < count ? 2 * pair_end : count;
  transform_input(g, x, first + begin, end - begin, 2 * (pair_end - pair_begin), chunk.v_position,
                  v + begin * g.c);
  for (int64_t pair = pair_begin; pair < pair_end; ++pair) {
    int64_t n = count - 2 * pair < 2 ? count - 2 * pair : 2;
    transform_grad_pair(g, dy, first + 2 * pair, n, chunk.dm_position, dm + pair * g.k * 2);
  }
}

// Rows [k_begin, k_end) of dU_p (+)= dM_p^T V_p over `pairs` tile pairs.
void accumulate_position(const Geometry& g, const uint16_t* vp, const uint16_t* dmp, int64_t pairs,
                         int64_t k_begin, int64_t k_end, bool start, float* dup) {
  bf16_pairs::accumulate_row_range(vp, dmp, pairs, g.c, g.k, k_begin, k_end, start, dup);
}

// Small layers: each thread transforms its own chunks of tiles, which stay in its L2, and sums
// into its own dU; the threads' sums are added at the end. (Streaming chunks through the
// shared L3 instead made the 64-channel layers 2x slower whenever other tenants of this VM's
// L3 were busy.)
constexpr int64_t kThreadSumsBytes = 1024 * 1024;  // dU per thread: up to 128 x 128 channels
constexpr int64_t kThreadTilesBytes = 512 * 1024;  // V and dM of a thread's chunk

bool per_thread_sums(const Geometry& g) { return 16 * g.k * g.c * 4 <= kThreadSumsBytes; }

int64_t thread_chunk(const Geometry& g) {
  int64_t fit = kThreadTilesBytes / (32 * (g.c + g.k)) / 2 * 2;
  return fit < 2 ? 2 : fit;
}

void weight_grad_per_thread(const Geometry& g, const uint16_t* x, const uint16_t* dy, float* dw,
                            char* scratch, int threads) {
  const GradChunk chunk(g, thread_chunk(g));
  const int64_t chunks = (g.tiles + chunk.tiles - 1) / chunk.tiles, sums = 16 * chunk.du_position;
  const int64_t area = thread_area_stride(chunk.total());
#pragma omp parallel num_threads(threads)
  {
    char* mine = scratch + omp_get_thread_num() * area;
    uint16_t* v = reinterpret_cast<uint16_t*>(mine);
    uint16_t* dm = reinterpret_cast<uint16_t*>(mine + chunk.v_bytes());
    float* du = reinterpret_cast<float*>(mine + chunk.v_bytes() + chunk.dm_bytes());
    for (int64_t i = 0; i < sums; i += 16) _mm512_storeu_ps(du + i, _mm512_setzero_ps());
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t first = c * chunk.tiles;
      const int64_t count = g.tiles - first < chunk.tiles ? g.tiles - first : chunk.tiles;
      const int64_t pairs = (count + 1) / 2;
      transform_pairs(g, x, dy, first, count, 0, pairs, chunk, v, dm);
      for (int64_t pos = 0; pos < 16; ++pos)
        accumulate_position(g, v + pos * chunk.v_position, dm + pos * chunk.dm_position, pairs, 0,
                            g.k, false, du + pos * chunk.du_position);
    }
    float* total = reinterpret_cast<float*>(scratch + chunk.v_bytes() + chunk.dm_bytes());
    bf16_pairs::add_into_first(total, area, sums);
#pragma omp for schedule(static)
    for (int64_t k = 0; k < g.k; ++k)
      for (int64_t c0 = 0; c0 < g.c; c0 += 16)
        transform_weight_grad(g, total, chunk.du_position, k, c0, dw);
  }
}

}  // namespace

int64_t weight_grad_scratch_bytes(const Problem& p, int threads) {
  Geometry g = geometry(p);
  if (per_thread_sums(g))
    return threads * thread_area_stride(GradChunk(g, thread_chunk(g)).total());
  return GradChunk(g, grad_chunk(g)).total();
}

void weight_grad(const Problem& p, const uint16_t* x, const uint16_t* dy, float* dw, char* scratch,
                 int threads) {
  const Geometry g = geometry(p);
  if (per_thread_sums(g)) return weight_grad_per_thread(g, x, dy, dw, scratch, threads);
  // Wide layers: a thread's sums would not fit in L2, so all threads transform a chunk of tiles
  // together and then take pieces of positions' rows, summing into the one dU.
  const GradChunk chunk(g, grad_chunk(g));
  uint16_t* v = reinterpret_cast<uint16_t*>(scratch);
  uint16_t* dm = reinterpret_cast<uint16_t*>(scratch + chunk.v_bytes());
  float* du = reinterpret_cast<float*>(scratch + chunk.v_bytes() + chunk.dm_bytes());
  constexpr int64_t kPairsPerCall = 8;  // transform_input shares columns within a call
  // The products go in pieces of a position's rows (bf16_pairs::row_piece); the transforms
  // write disjoint rows, so they are taken as they come too.
#pragma omp parallel num_threads(threads)
  {
    for (int64_t first = 0; first < g.tiles; first += chunk.tiles) {
      const int64_t count = g.tiles - first < chunk.tiles ? g.tiles - first : chunk.tiles;
      const int64_t pairs = (count + 1) / 2;
#pragma omp for schedule(dynamic, 1)
      for (int64_t pair = 0; pair < pairs; pair += kPairsPerCall)
        transform_pairs(g, x, dy, first, count, pair,
                        pair + kPairsPerCall < pairs ? pair + kPairsPerCall : pairs, chunk, v, dm);
#pragma omp for schedule(dynamic, 1)
      for (int64_t piece = 0; piece < 16 * bf16_pairs::kRowPieces; ++piece) {
        const bf16_pairs::RowPiece r = bf16_pairs::row_piece(piece, g.k);
        accumulate_position(g, v + r.part * chunk.v_position, dm + r.part * chunk.dm_position,
                            pairs, r.k_begin, r.k_end, first == 0, du + r.part * chunk.du_position);
      }
    }
#pragma omp for schedule(static)
    for (int64_t k = 0; k < g.k; ++k)
      for (int64_t c0 = 0; c0 < g.c; c0 += 16)
        transform_weight_grad(g, du, chunk.du_position, k, c0, dw);
  }
}

#pragma GCC diagnostic pop

}  // namespace sg::onednn::winograd_bf16
