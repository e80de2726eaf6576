// The AMX tile product of amx_matmul.h. Compiled for AMX and AVX-512 (engine/CMakeLists.txt);
// runs only where amx::usable() says so.
#include "engine/onednn/amx_matmul.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <span>

namespace sg::onednn::amx {

namespace {

// Palette 1, eight tiles of 16 rows x 64 bytes: accumulators 0-3, A tiles 4-5, B tiles 6-7.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};
// A constant in memory, not a local filled before use: GCC 12 does not see _tile_loadconfig
// read the whole struct and dropped the stores to a local one (ldtilecfg then configured no
// tiles, and the first tile load faulted), once configure_tiles was no longer inlined.
constexpr TileConfig kTileConfig{};

// Column blocks of 32 taken together while a thread walks its rows: their B panels (four times
// k x 32 values, 1.2 MB at k = 4608) stay in L2 for every row block, which is then read once.
constexpr int64_t kColumnGroup = 4;
// amx::matmul's groups (product below): their B panels take at most this much, and at least
// kMinColumnGroup column blocks make a group, the sum over k running in chunks if need be.
constexpr int64_t kGroupPanelBytes = 4 * 4608 * 32 * 2;
constexpr int64_t kMinColumnGroup = 8;
// Tiles prefetched this many k steps of 32 ahead, into L1: 2-15% faster on the step's products
// than with the hardware prefetchers alone (bench/amx_rates with and without).
constexpr int64_t kPrefetchSteps = 2;
// Rows of a float32 weight prefetched ahead while packing its backward-data panels (best of 4,
// 8, 16 and 32 for 512x512x3x3 and 256x256x3x3).
constexpr int64_t kPanelRowsAhead = 16;

// Round to nearest even, NaN kept a NaN: the bits sg::bfloat16 gives (local, so that this
// AVX-512 file defines no inline function another file could link to).
inline uint16_t round_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 0x40);
  return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

// float32 rows of whole blocks go out with streaming stores: a float32 product writes
// megabytes that its reader takes from memory anyway, and plain stores, which first read each
// line in, take 1.4x as long (bench/amx_rates: 1.87 against 1.31 ms for 1024 x 512 x 2304).
void store(const float* block, int64_t rows, int64_t cols, float* c, int64_t ldc) {
  const bool streaming = cols == 32 && reinterpret_cast<uintptr_t>(c) % 64 == 0 && ldc % 16 == 0;
  for (int64_t i = 0; i < rows; ++i)
    if (streaming) {
      _mm512_stream_ps(c + i * ldc, _mm512_load_ps(block + i * 32));
      _mm512_stream_ps(c + i * ldc + 16, _mm512_load_ps(block + i * 32 + 16));
    } else {
      std::memcpy(c + i * ldc, block + i * 32, cols * 4);
    }
}

void store(const float* block, int64_t rows, int64_t cols, bfloat16* c, int64_t ldc) {
  for (int64_t i = 0; i < rows; ++i) {
    auto* out = reinterpret_cast<uint16_t*>(c + i * ldc);
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) out[j] = round_to_bf16(block[i * 32 + j]);
  }
}

// Where a 32x32 block's operands start, at k = 0, and how they advance: A's two row tiles
// (rows 0-15 and 16-31 of the block) move a_step elements per unit of k and have a_row
// elements between their rows (16 and 32 packed as row tiles; 1 and the row stride for a
// row-major A); B's two column panels as packed (16 elements per unit of k, rows 32 apart).
struct TileWalk {
  const uint16_t* a0;
  const uint16_t* a1;
  int64_t a_step, a_row;
  const uint16_t* b0;
  const uint16_t* b1;
};

// The 32x32 float32 block held in accumulator tiles 0-3 (rows 0-15 | 16-31, columns 0-15 |
// 16-31), from or to memory with `ld` floats between rows, or zeroed.
void zero_accumulators() {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}

void load_accumulators(const float* block, int64_t ld) {
  const int64_t bytes = ld * int64_t(sizeof(float));
  _tile_loadd(0, block, bytes);
  _tile_loadd(1, block + 16, bytes);
  _tile_loadd(2, block + 16 * ld, bytes);
  _tile_loadd(3, block + 16 * ld + 16, bytes);
}

void store_accumulators(float* block, int64_t ld) {
  const int64_t bytes = ld * int64_t(sizeof(float));
  _tile_stored(0, block, bytes);
  _tile_stored(1, block + 16, bytes);
  _tile_stored(2, block + 16 * ld, bytes);
  _tile_stored(3, block + 16 * ld + 16, bytes);
}

// Adds the products of the walk's two row tiles and two column panels over k to accumulator
// tiles 0-3.
void sum_block(const TileWalk& w, int64_t k) {
  const int64_t a_bytes = w.a_row * int64_t(sizeof(uint16_t));
  for (int64_t kk = 0; kk < k; kk += 32) {
    if (const int64_t ahead = kk + 32 * kPrefetchSteps; ahead < k)
      for (int64_t r = 0; r < 16; ++r) {
        for (const uint16_t* q : {w.a0, w.a1})
          _mm_prefetch(reinterpret_cast<const char*>(q + ahead * w.a_step + r * w.a_row),
                       _MM_HINT_T0);
        for (const uint16_t* q : {w.b0, w.b1})
          _mm_prefetch(reinterpret_cast<const char*>(q + ahead * 16 + r * 32), _MM_HINT_T0);
      }
    // Each load as late as its first product needs it: tiles are not renamed, so loading one
    // that the previous step's last product still reads would wait for that product.
    _tile_loadd(4, w.a0 + kk * w.a_step, a_bytes);
    _tile_loadd(6, w.b0 + kk * 16, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, w.b1 + kk * 16, 64);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, w.a1 + kk * w.a_step, a_bytes);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
}

// The walk over row tiles 2i, 2i+1 of packed A and column panels 2j, 2j+1 of B.
TileWalk packed_walk(const uint16_t* a, const uint16_t* b, int64_t i, int64_t j, int64_t k) {
  const uint16_t* a0 = a + 2 * i * k * 16;
  const uint16_t* b0 = b + 2 * j * k * 16;
  return {a0, a0 + k * 16, 16, 32, b0, b0 + k * 16};
}

// The calling thread's share of a grid of row blocks x column blocks: rows i0 .. i1 - 1 and
// columns j0 .. j1 - 1. Threads share out the row blocks, or the column blocks when there
// are fewer rows than threads.
struct BlockShare {
  int64_t i0, i1, j0, j1;
};

BlockShare thread_share(int64_t row_blocks, int64_t col_blocks) {
  const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
  const bool by_rows = row_blocks >= threads;
  const int64_t units = by_rows ? row_blocks : col_blocks;
  const int64_t first = units * t / threads, last = units * (t + 1) / threads;
  return by_rows ? BlockShare{first, last, 0, col_blocks} : BlockShare{0, row_blocks, first, last};
}

// On the OpenMP threads, with tiles configured: body(i, j0, j1, scratch) for each row block i
// of the calling thread's share and each group j0 .. j1 - 1 of up to kColumnGroup of its column
// blocks, groups outside (so that a group's B panels stay in L2 while the rows go by); scratch
// is a thread's 32x32 float32 block.
template <typename Body>
void for_blocks_in_column_groups(int64_t row_blocks, int64_t col_blocks, Body body) {
#pragma omp parallel
  {
    configure_tiles();
    alignas(64) float scratch[32 * 32];
    const auto [i0, i1, j0, j1] = thread_share(row_blocks, col_blocks);
    for (int64_t group = j0; group < j1; group += kColumnGroup)
      for (int64_t i = i0; i < i1; ++i)
        body(i, group, std::min(j1, group + kColumnGroup), static_cast<float*>(scratch));
    _mm_sfence();  // streaming stores visible before the threads join
    _tile_release();
  }
}

// A buffer of T kept by a thread for its next call (for float32 partial sums, tap blocks and
// gather offsets). Not a std::vector: an inline function instantiated in this AVX-512 file,
// such as a vector's, could be the copy another file links to.
template <typename T>
class ThreadBuffer {
 public:
  ThreadBuffer() = default;
  ThreadBuffer(const ThreadBuffer&) = delete;
  ThreadBuffer& operator=(const ThreadBuffer&) = delete;
  ~ThreadBuffer() { std::free(data_); }
  T* get(size_t count) {
    if (count > size_) {
      std::free(data_);
      data_ = static_cast<T*>(std::aligned_alloc(64, (count * sizeof(T) + 63) / 64 * 64));
      size_ = data_ ? count : 0;
    }
    return data_;
  }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

// C = A B in chunks of k and groups of column blocks whose B panels take at most
// kGroupPanelBytes, so that they stay in L2 while a thread's row blocks go by; each row block
// of A then comes from beyond L2 once per group, and a chunk of k lets a group take eight
// column blocks where the whole k would allow four. Partial sums in float32 between chunks.
// 512->512 3x3 at 4x4 (1024 x 4608 x 512), 2 threads, operands in memory: the whole k in
// groups of four 1.72-1.82 ms, chunks of 2304 in groups of eight 1.61-1.63 (a throwaway
// synthetic walk of the same tiles); with A's row block kept in L2, 1.30-1.38.
template <typename Out>
void product(const uint16_t* a, const uint16_t* b, int64_t m, int64_t k, int64_t n, Out* c,
             int64_t ldc) {
  const int64_t row_blocks = padded(m) / 32, col_blocks = n / 32;
  const int64_t panel_bytes_per_k = 32 * int64_t(sizeof(uint16_t));  // one column block's
  const int64_t whole_k_group = kGroupPanelBytes / (k * panel_bytes_per_k);
  const int64_t chunk = whole_k_group >= kMinColumnGroup
                            ? k
                            : kGroupPanelBytes / (kMinColumnGroup * panel_bytes_per_k) / 32 * 32;
  const int64_t group =
      std::max<int64_t>(1, std::min(col_blocks, kGroupPanelBytes / (chunk * panel_bytes_per_k)));
  thread_local ThreadBuffer<float> partial_sums;  // float32 sums between chunks of k
  float* partials = chunk < k ? partial_sums.get(size_t(row_blocks * 32) * size_t(n)) : nullptr;
#pragma omp parallel
  {
    configure_tiles();
    alignas(64) float scratch[32 * 32];
    const auto [i0, i1, j0, j1] = thread_share(row_blocks, col_blocks);
    for (int64_t k0 = 0; k0 < k; k0 += chunk) {
      const int64_t kn = std::min(chunk, k - k0);
      const bool first = k0 == 0, last = k0 + kn == k;
      for (int64_t g = j0; g < j1; g += group)
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = g; j < std::min(j1, g + group); ++j) {
            float* partial = partials ? partials + 32 * i * n + 32 * j : nullptr;
            if (first)
              zero_accumulators();
            else
              load_accumulators(partial, n);
            TileWalk walk = packed_walk(a, b, i, j, k);
            walk.a0 += k0 * walk.a_step;
            walk.a1 += k0 * walk.a_step;
            walk.b0 += k0 * 16;
            walk.b1 += k0 * 16;
            sum_block(walk, kn);
            if (!last) {
              store_accumulators(partial, n);
              continue;
            }
            store_accumulators(scratch, 32);
            const int64_t rows = std::min<int64_t>(32, m - 32 * i);
            const int64_t cols = std::min<int64_t>(32, n - 32 * j);
            store(scratch, rows, cols, c + 32 * i * ldc + 32 * j, ldc);
          }
    }
    _mm_sfence();  // streaming stores visible before the threads join
    _tile_release();
  }
}

}  // namespace

void configure_tiles() { _tile_loadconfig(&kTileConfig); }

void matmul(const uint16_t* a, const uint16_t* b, int64_t m, int64_t k, int64_t n, float* c,
            int64_t ldc) {
  product(a, b, m, k, n, c, ldc);
}

void matmul(const uint16_t* a, const uint16_t* b, int64_t m, int64_t k, int64_t n, bfloat16* c,
            int64_t ldc) {
  product(a, b, m, k, n, c, ldc);
}

void oihw_runs_from_tap_blocks(const float* blocks, int64_t sets, int64_t set_stride, int64_t taps,
                               int64_t row_step, int64_t col_step, float* out, int64_t out_stride) {
  // Each run's 32 * taps floats, 16 at a time, gathered from the blocks (in L1 or L2) instead of
  // element by element (512x512x3x3 at 4x4, batch 64: 3.39-3.54 -> 3.16-3.26 ms a call): float
  // c * taps + t of a run is column c of tap t's block.
  thread_local ThreadBuffer<int32_t> source_buffer;
  int32_t* sources = source_buffer.get(size_t(32 * taps));
  for (int64_t c = 0; c < 32; ++c)
    for (int64_t t = 0; t < taps; ++t) sources[c * taps + t] = int32_t(t * 1024 + c * col_step);
  for (int64_t r = 0; r < 32; ++r)
    for (int64_t v = 0; v < 2 * taps; ++v) {
      const __m512i from = _mm512_loadu_si512(sources + 16 * v);
      __m512 total = _mm512_setzero_ps();
      for (int64_t set = 0; set < sets; ++set)
        total = _mm512_add_ps(
            total, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xffff, from,
                                            blocks + set * set_stride + r * row_step, 4));
      _mm512_storeu_ps(out + r * out_stride + 16 * v, total);
    }
}

void matmul_oihw(const uint16_t* a, const uint16_t* b, int64_t out_channels, int64_t k,
                 int64_t channels, int64_t taps, float* out) {
  const int64_t row_blocks = out_channels / 32, channel_blocks = channels / 32;
#pragma omp parallel
  {
    configure_tiles();
    // The blocks of one channel range for every tap, so that each output channel's run of
    // 32 * taps floats in OIHW is written whole, once (the product written as OHWI and turned
    // into OIHW after went through memory twice more).
    thread_local ThreadBuffer<float> taps_buffer;
    float* taps_blocks = taps_buffer.get(size_t(taps) * 1024);
    const auto [i0, i1, c0, c1] = thread_share(row_blocks, channel_blocks);
    for (int64_t cb = c0; cb < c1; ++cb)
      for (int64_t i = i0; i < i1; ++i) {
        for (int64_t tap = 0; tap < taps; ++tap) {
          zero_accumulators();
          sum_block(packed_walk(a, b, i, tap * channel_blocks + cb, k), k);
          store_accumulators(taps_blocks + tap * 1024, 32);
        }
        oihw_runs_from_tap_blocks(taps_blocks, 1, 0, taps, 32, 1,
                                  out + (32 * i * channels + 32 * cb) * taps, channels * taps);
      }
    _tile_release();
  }
}

void matmul_add(const uint16_t* a, const uint16_t* b, int64_t m, int64_t k, int64_t n, float* c,
                int64_t ldc) {
  configure_tiles();
  const int64_t row_blocks = m / 32, col_blocks = n / 32;
  for (int64_t group = 0; group < col_blocks; group += kColumnGroup)
    for (int64_t i = 0; i < row_blocks; ++i)
      for (int64_t j = group; j < std::min(col_blocks, group + kColumnGroup); ++j) {
        float* block = c + 32 * i * ldc + 32 * j;
        load_accumulators(block, ldc);
        sum_block(packed_walk(a, b, i, j, k), k);
        store_accumulators(block, ldc);
      }
  _tile_release();
}

namespace {

// Where one layout of the panels reads w (OIHW) and writes them: p is the panels' column
// dimension (K or C), q the other one.
struct PanelLayout {
  int64_t taps, Q, p_stride, q_stride;
  __m512i first8, next8;  // w offsets of a 64-byte panel line's 16 values, in two halves of 8
  PanelLayout(const Shape& w_shape, int column_dim) {
    const int64_t K = w_shape[0], C = w_shape[1];
    taps = w_shape[2] * w_shape[3];
    Q = column_dim == 0 ? C : K;
    p_stride = column_dim == 0 ? C * taps : taps;
    q_stride = column_dim == 0 ? taps : C * taps;
    alignas(64) int32_t offsets[16];
    for (int64_t j = 0; j < 16; ++j) offsets[j] = int32_t((j / 2) * p_stride + (j % 2) * q_stride);
    first8 = _mm512_load_si512(offsets);
    next8 = _mm512_add_epi32(first8, _mm512_set1_epi32(int32_t(8 * p_stride)));
  }
  // Panel `block`'s pair rows q, q+1 for every tap.
  void pack_pair_rows(const float* w, int64_t block, int64_t q, uint16_t* panels) const {
    for (int64_t t = 0; t < taps; ++t) {
      const float* from = w + block * 16 * p_stride + q * q_stride + t;
      // (The masked form: GCC 12 warns that the plain one's undefined start value is read.)
      const __m512 lo = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xffff, first8, from, 4);
      const __m512 hi = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xffff, next8, from, 4);
      uint16_t* to = panels + block * taps * Q * 16 + (t * Q + q) / 2 * 32;
      _mm512_storeu_si512(to, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
  }
};

}  // namespace

void pack_weight_panels(const float* w, const Shape& w_shape, int column_dim, uint16_t* panels) {
  const PanelLayout layout(w_shape, column_dim);
  const int64_t P = column_dim == 0 ? w_shape[0] : w_shape[1], Q = layout.Q;
  // 64 bytes of a panel hold one tap's pair of rows q, q+1 for 16 columns, interleaved: gathered
  // as two vectors of eight columns x two rows and rounded together. Walking q pairs outside
  // the taps reads each stretch of w once (1.0-1.35 ms a reorder of 512x512x3x3 in oneDNN 2.6,
  // in the step).
#pragma omp parallel for schedule(static)
  for (int64_t block = 0; block < P / 16; ++block)
    for (int64_t q = 0; q < Q; q += 2) {
      // With columns C a block reads 16 * taps floats from each row of w, the rows a whole row
      // apart: a stride the hardware prefetchers do not follow, so the rows a few steps ahead
      // are asked for here (512x512x3x3: 0.89-0.96 -> 0.46-0.51 ms; with columns K the block's
      // 16 rows are read along their length, and the prefetchers keep up).
      if (column_dim == 1 && q + kPanelRowsAhead + 1 < Q)
        for (int64_t row = q + kPanelRowsAhead; row < q + kPanelRowsAhead + 2; ++row) {
          const auto* run = reinterpret_cast<const char*>(w + block * 16 * layout.p_stride +
                                                          row * layout.q_stride);
          for (int64_t byte = 0; byte < 16 * layout.taps * 4 + 64; byte += 64)
            _mm_prefetch(run + byte, _MM_HINT_T0);
        }
      layout.pack_pair_rows(w, block, q, panels);
    }
}

void pack_weight_panels_both(const float* w, const Shape& w_shape, uint16_t* k_panels,
                             uint16_t* c_panels) {
  const PanelLayout by_k(w_shape, 0), by_c(w_shape, 1);
  const int64_t K = w_shape[0], C = w_shape[1];
  // w in 16 x 16 x taps pieces (output channels 16i.., input channels 16j..), each read from
  // memory once, by the first layout's gathers, and from L1 by the second's.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < K / 16; ++i)
    for (int64_t j = 0; j < C / 16; ++j) {
      for (int64_t c = 16 * j; c < 16 * j + 16; c += 2) by_k.pack_pair_rows(w, i, c, k_panels);
      for (int64_t k = 16 * i; k < 16 * i + 16; k += 2) by_c.pack_pair_rows(w, j, k, c_panels);
    }
}

void shifted_panels_matmul_add(const ShiftedPanelsProduct& p, int64_t first_block,
                               int64_t last_block, bool accumulate, float* blocks) {
  configure_tiles();
  const int64_t row_blocks = p.m / 32, col_blocks = p.n / 32;
  for (int64_t group = first_block; group < last_block; group += kColumnGroup)
    for (int64_t i = 0; i < row_blocks; ++i)
      for (int64_t j = group; j < std::min(last_block, group + kColumnGroup); ++j)
        for (int64_t s = 0; s < p.count; ++s) {
          float* block = blocks + ((i * col_blocks + j) * p.count + s) * 1024;
          if (accumulate)
            load_accumulators(block, 32);
          else
            zero_accumulators();
          const uint16_t* a0 = p.a + 32 * i * p.lda;
          const uint16_t* b0 = p.b + 2 * j * p.panel_stride + p.shifts[s] * 32;
          sum_block({a0, a0 + 16 * p.lda, 1, p.lda, b0, b0 + p.panel_stride}, p.k);
          store_accumulators(block, 32);
        }
  _tile_release();
}

void shifted_rows_matmul(const ShiftedRowsProduct& p, bfloat16* out, int64_t ldo) {
  const std::span phases(p.phases, size_t(p.phase_count));
  for_blocks_in_column_groups(
      p.m / 32, p.n / 32, [&](int64_t i, int64_t j0, int64_t j1, float* scratch) {
        for (const ShiftedRowsPhase& f : phases) {
          if (f.taps == 0) {  // no tap reads these pixels (a 1x1 kernel's other phases): zeros
            for (int64_t r = 0; r < 32; ++r)
              if (const int64_t to = f.out_rows[32 * i + r]; to >= 0)
                std::fill_n(out + to * ldo + 32 * j0, 32 * (j1 - j0), bfloat16{});
            continue;
          }
          for (int64_t j = j0; j < j1; ++j) {
            zero_accumulators();
            for (int64_t t = 0; t < f.taps; ++t) {
              const uint16_t* a0 = p.a + (32 * i + f.shifts[t]) * p.lda;
              const uint16_t* b0 = p.b + 2 * j * p.panel_stride + f.panel_taps[t] * p.k * 16;
              sum_block({a0, a0 + 16 * p.lda, 1, p.lda, b0, b0 + p.panel_stride}, p.k);
            }
            store_accumulators(scratch, 32);
            for (int64_t r = 0; r < 32; ++r)
              if (const int64_t to = f.out_rows[32 * i + r]; to >= 0)
                store(scratch + r * 32, 1, 32, out + to * ldo + 32 * j, ldo);
          }
        }
      });
}

}  // namespace sg::onednn::amx
