// The bf16 weight gradient of strided convolutions on AVX-512 BF16 (see the header for why).
//
// Compiled alone with AVX-512 BF16 enabled (engine/CMakeLists.txt), like the Winograd
// kernels, so it uses no C++ library templates; callers check avx512_bf16_usable() first.
//
// Positions go through in chunks: x's pixels under every tap are copied into rows
// (V[tap][position][C]) and dy's values into position pairs (DM[pair][K][2]), then the products
// run per tap. Where a thread's sums are small (per_thread_sums), each thread takes whole
// chunks into V, DM and sums of its own, added at the end; otherwise all threads copy one
// chunk together and then take pieces of one tap's rows of dW as they come.
#include "engine/onednn/conv2d_backward_weight_bf16.h"
#include "engine/onednn/bf16_pair_products.h"
#include "engine/onednn/bf16_vectors.h"
#include "engine/onednn/scratch_sizes.h"

#include <immintrin.h>
#include <omp.h>

namespace sg::onednn::backward_weight_bf16 {

namespace {

// One tap's rows (chunk x C) and the chunk's dy pairs (chunk x K) are what the products read
// again and again: kept to 128 and 256 KiB, within the 1 MiB L2 of the CPUs measured.
constexpr int64_t kTapRowsBytes = 128 * 1024;
constexpr int64_t kPairsBytes = 256 * 1024;
// Sums per thread up to 2 MiB: per layer of batch 64 on AMD Zen 5, 2 threads, shared chunk ->
// per-thread sums: 64 -> 128 channels (0.3 MB of sums) 6.1 -> 3.9 ms, 128 -> 256 (1.2 MB)
// 5.0 -> 4.0-4.2 ms, but 256 -> 512 (4.7 MB, streamed from L3 for every chunk) 4.5 -> 5.0-5.2.
constexpr int64_t kThreadSumsBytes = 2 << 20;

struct Geometry {
  Problem p;
  int64_t taps, positions, chunk;
  int64_t v_bytes() const { return align64(taps * chunk * p.in_channels * 2); }
  int64_t dm_bytes() const { return align64(chunk * p.out_channels * 2); }
  int64_t du_bytes() const { return align64(taps * p.out_channels * p.in_channels * 4); }
};

Geometry geometry(const Problem& p) {
  Geometry g{p, p.kernel_h * p.kernel_w, p.batch * p.out_h * p.out_w, 0};
  int64_t fit_rows = kTapRowsBytes / (2 * p.in_channels),
          fit_pairs = kPairsBytes / (2 * p.out_channels);
  int64_t fit = (fit_rows < fit_pairs ? fit_rows : fit_pairs) / 2 * 2;
  int64_t all = round_up(g.positions, 2);
  g.chunk = fit < 2 ? 2 : fit > all ? all : fit;
  return g;
}

// Output pixel (image, oy, ox) of a position, stepped through positions in order (so that a
// run of positions costs no divisions after its first).
struct PositionWalk {
  int64_t image, oy, ox;
  PositionWalk(const Problem& p, int64_t position)
      : image(position / (p.out_h * p.out_w)),
        oy(position % (p.out_h * p.out_w) / p.out_w),
        ox(position % p.out_w) {}
  void next(const Problem& p) {
    if (++ox < p.out_w) return;
    ox = 0;
    if (++oy < p.out_h) return;
    oy = 0;
    ++image;
  }
};

// Pairs [pair_begin, pair_end) of the chunk starting at position `first` (`count` positions):
// their pixels under every tap into V's rows, their dy values into DM side by side. A position
// past the chunk's end is zeros in both.
void copy_pairs(const Geometry& g, const uint16_t* x, const uint16_t* dy, int64_t first,
                int64_t count, int64_t pair_begin, int64_t pair_end, uint16_t* v, uint16_t* dm) {
  const Problem& p = g.p;
  const int64_t c_blocks = p.in_channels / 16, k_blocks = p.out_channels / 16;
  const int64_t plane = p.height * p.width * 16, out_plane = p.out_h * p.out_w * 16;
  const __m256i zero = _mm256_setzero_si256();
  const __m512i pair_up = bf16_pairs::pair_rows_low();  // the two positions side by side
  PositionWalk at(p, first + 2 * pair_begin);
  for (int64_t pair = pair_begin; pair < pair_end; ++pair) {
    const uint16_t* dy_at[2] = {nullptr, nullptr};
    for (int64_t h = 0; h < 2; ++h) {
      const int64_t row = 2 * pair + h;
      uint16_t* rows = v + row * p.in_channels;
      if (row >= count) {
        for (int64_t tap = 0; tap < g.taps; ++tap)
          for (int64_t cb = 0; cb < c_blocks; ++cb)
            _mm256_storeu_si256(
                reinterpret_cast<__m256i*>(rows + tap * g.chunk * p.in_channels + cb * 16), zero);
        continue;
      }
      dy_at[h] = dy + at.image * k_blocks * out_plane + (at.oy * p.out_w + at.ox) * 16;
      const uint16_t* image_x = x + at.image * c_blocks * plane;
      for (int64_t r = 0; r < p.kernel_h; ++r)
        for (int64_t s = 0; s < p.kernel_w; ++s) {
          const int64_t iy = at.oy * p.stride + r - p.padding;
          const int64_t ix = at.ox * p.stride + s - p.padding;
          const bool inside = iy >= 0 && iy < p.height && ix >= 0 && ix < p.width;
          const uint16_t* pixel = image_x + (iy * p.width + ix) * 16;
          uint16_t* out = rows + (r * p.kernel_w + s) * g.chunk * p.in_channels;
          for (int64_t cb = 0; cb < c_blocks; ++cb)
            _mm256_storeu_si256(
                reinterpret_cast<__m256i*>(out + cb * 16),
                inside ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pixel + cb * plane))
                       : zero);
        }
      at.next(p);
    }
    uint16_t* out = dm + pair * p.out_channels * 2;
    for (int64_t kb = 0; kb < k_blocks; ++kb) {
      // 16 values of each position (the rest of the vector zeros), paired element by element.
      __m512i lo = dy_at[0] ? _mm512_maskz_loadu_epi16(0xffff, dy_at[0] + kb * out_plane)
                            : _mm512_setzero_si512();
      __m512i hi = dy_at[1] ? _mm512_maskz_loadu_epi16(0xffff, dy_at[1] + kb * out_plane)
                            : _mm512_setzero_si512();
      _mm512_storeu_si512(out + kb * 32, _mm512_permutex2var_epi16(lo, pair_up, hi));
    }
  }
}

}  // namespace

// Where one thread's sums are small enough, each thread takes whole chunks of positions into
// its own V, DM and sums, which are added at the end: with the threads sharing one chunk
// instead (each summing its own rows of dW), every thread read every row the other copied,
// and two threads ran 64 -> 128 channels no faster than one (AMD Zen 5).
bool per_thread_sums(const Geometry& g) { return g.du_bytes() <= kThreadSumsBytes; }

int64_t scratch_bytes(const Problem& p, int threads) {
  Geometry g = geometry(p);
  const int64_t area = g.v_bytes() + g.dm_bytes() + g.du_bytes();
  return per_thread_sums(g) ? threads * thread_area_stride(area) : area;
}

// GCC 12 reports the undefined vectors inside transpose_16x16's intrinsics as maybe
// uninitialised where it is inlined (GCC bug 105593, fixed in GCC 13): silenced over
// write_dw and weight_grad. Clang has neither the warning nor the bug.
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
// dw[k][c][tap] = du[tap][k][c] for rows [k_begin, k_end): 16 channels' taps as the rows of a
// 16 x 16 block, transposed, then each channel's taps stored as one contiguous run.
void write_dw(const Geometry& g, const float* du, int64_t k_begin, int64_t k_end, float* dw) {
  const int64_t C = g.p.in_channels, K = g.p.out_channels;
  const __mmask16 tap_lanes = __mmask16((1u << g.taps) - 1);
  for (int64_t k = k_begin; k < k_end; ++k)
    for (int64_t c0 = 0; c0 < C; c0 += 16) {
      __m512 rows[16];
      for (int64_t tap = 0; tap < 16; ++tap)
        rows[tap] =
            tap < g.taps ? _mm512_loadu_ps(du + (tap * K + k) * C + c0) : _mm512_setzero_ps();
      transpose_16x16(rows);
      for (int64_t j = 0; j < 16; ++j)
        _mm512_mask_storeu_ps(dw + (k * C + c0 + j) * g.taps, tap_lanes, rows[j]);
    }
}

void weight_grad(const Problem& p, const uint16_t* x, const uint16_t* dy, float* dw, char* scratch,
                 int threads) {
  const Geometry g = geometry(p);
  const int64_t C = p.in_channels, K = p.out_channels;
  const int64_t area = thread_area_stride(g.v_bytes() + g.dm_bytes() + g.du_bytes());
  const int64_t chunks = (g.positions + g.chunk - 1) / g.chunk;
  const bool own_sums = per_thread_sums(g);
#pragma omp parallel num_threads(threads)
  {
    const int team = omp_get_num_threads(), me = omp_get_thread_num();
    char* mine = scratch + (own_sums ? me * area : 0);
    uint16_t* v = reinterpret_cast<uint16_t*>(mine);
    uint16_t* dm = reinterpret_cast<uint16_t*>(mine + g.v_bytes());
    float* du = reinterpret_cast<float*>(mine + g.v_bytes() + g.dm_bytes());  // [tap][K][C]
    if (own_sums) {
      for (int64_t i = 0; i < g.taps * K * C; i += 16)
        _mm512_storeu_ps(du + i, _mm512_setzero_ps());
#pragma omp for schedule(static)
      for (int64_t chunk = 0; chunk < chunks; ++chunk) {
        const int64_t first = chunk * g.chunk;
        const int64_t count = g.positions - first < g.chunk ? g.positions - first : g.chunk;
        const int64_t pairs = (count + 1) / 2;
        copy_pairs(g, x, dy, first, count, 0, pairs, v, dm);
        for (int64_t tap = 0; tap < g.taps; ++tap)
          bf16_pairs::accumulate_row_range(v + tap * g.chunk * C, dm, pairs, C, K, 0, K, false,
                                           du + tap * K * C);
      }
      // The threads' sums into thread 0's (the loop's implicit barrier: all are complete).
      float* total = reinterpret_cast<float*>(scratch + g.v_bytes() + g.dm_bytes());
      bf16_pairs::add_into_first(total, area, g.taps * K * C);
#pragma omp for schedule(static)
      for (int64_t k = 0; k < K; ++k) write_dw(g, total, k, k + 1, dw);
    } else {
      // The products in pieces of one tap's rows of dW (bf16_pairs::row_piece).
      for (int64_t first = 0; first < g.positions; first += g.chunk) {
        const int64_t count = g.positions - first < g.chunk ? g.positions - first : g.chunk;
        const int64_t pairs = (count + 1) / 2;
        copy_pairs(g, x, dy, first, count, pairs * me / team, pairs * (me + 1) / team, v, dm);
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
        for (int64_t piece = 0; piece < g.taps * bf16_pairs::kRowPieces; ++piece) {
          const bf16_pairs::RowPiece r = bf16_pairs::row_piece(piece, K);
          bf16_pairs::accumulate_row_range(v + r.part * g.chunk * C, dm, pairs, C, K, r.k_begin,
                                           r.k_end, first == 0, du + r.part * K * C);
        }
      }
      const int64_t k_begin = K / 4 * me / team * 4, k_end = K / 4 * (me + 1) / team * 4;
      write_dw(g, du, k_begin, k_end, dw);
    }
  }
}
#pragma GCC diagnostic pop

}  // namespace sg::onednn::backward_weight_bf16
