#pragma once
// The dot-product micro-kernel of the AVX-512 BF16 weight gradients (Winograd's, per tile
// position, and the strided convolutions', per tap): a product [rows x pairs*2] x [pairs*2 x
// columns] summed over pairs of its reduction index, because `vdpbf16ps` multiplies two
// adjacent bf16 values of each 32-bit lane; and the sum of the threads' partial results. For
// files compiled with AVX-512 BF16 only (engine/CMakeLists.txt; their callers check the CPU
// first). Internal linkage, so that no function compiled here can be chosen by the linker for
// code that runs on other CPUs.
#include <immintrin.h>
#include <omp.h>

#include <cstdint>

namespace sg::onednn::bf16_pairs {
namespace {

// Two adjacent bf16 values (a pair of the dot products' reduction index) in every 32-bit lane.
inline __m512bh broadcast_pair(const uint16_t* p) {
  int32_t bits;
  __builtin_memcpy(&bits, p, 4);
  return reinterpret_cast<__m512bh>(_mm512_set1_epi32(bits));
}

// The permutation that interleaves the low and high 16 lanes of a 32 x 16-bit vector:
// (lo[j], hi[j]) side by side, as vdpbf16ps reads pairs of its reduction index.
inline __m512i interleave_halves() {
  return _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                          6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
}

// The index for _mm512_permutex2var_epi16(a, index, b) that puts a[j] and b[j] side by side in
// lane j, for j < 16: the low halves of two rows paired element by element (add 16 for the
// high halves).
inline __m512i pair_rows_low() {
  return _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38,
                          6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
}

// du[r][s*16..] += sum over pairs of a[pair][r] . (b[2 pair][s*16..], b[2 pair + 1][s*16..])
// for R rows and S blocks of 16 columns (`du` = the sum when `start`: it is not read then).
// a: pairs x [k][2] (the pair's two values side by side, rows `k` apart); b: rows of `c`
// values, two per pair, paired on the fly; du: rows `c` apart.
template <int R, int S>
void accumulate_block(const uint16_t* b, const uint16_t* a, int64_t pairs, int64_t c, int64_t k,
                      bool start, float* du) {
  // Lane i of the result: (row a [i], row b [i]) for the low 16 inputs, and the high 16.
  const __m512i low = pair_rows_low();
  const __m512i high = _mm512_add_epi16(low, _mm512_set1_epi16(16));
  __m512 acc[R][S];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int s = 0; s < S; ++s)
      acc[r][s] = start ? _mm512_setzero_ps() : _mm512_loadu_ps(du + r * c + s * 16);
  for (int64_t pair = 0; pair < pairs; ++pair) {
    const uint16_t* row = b + 2 * pair * c;
    __m512i rows_a = _mm512_maskz_loadu_epi16(S == 2 ? ~0u : 0xffffu, row);
    __m512i rows_b = _mm512_maskz_loadu_epi16(S == 2 ? ~0u : 0xffffu, row + c);
    __m512bh x[S];
    x[0] = reinterpret_cast<__m512bh>(_mm512_permutex2var_epi16(rows_a, low, rows_b));
    if constexpr (S == 2)
      x[1] = reinterpret_cast<__m512bh>(_mm512_permutex2var_epi16(rows_a, high, rows_b));
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      __m512bh y = broadcast_pair(a + (pair * k + r) * 2);
#pragma GCC unroll 2
      for (int s = 0; s < S; ++s) acc[r][s] = _mm512_dpbf16_ps(acc[r][s], x[s], y);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int s = 0; s < S; ++s) _mm512_storeu_ps(du + r * c + s * 16, acc[r][s]);
}

template <int R>
void accumulate_rows(const uint16_t* b, const uint16_t* a, int64_t pairs, int64_t c, int64_t k,
                     bool start, float* du) {
  for (int64_t c0 = 0; c0 < c; c0 += 32) {
    if (c - c0 >= 32)
      accumulate_block<R, 2>(b + c0, a, pairs, c, k, start, du + c0);
    else
      accumulate_block<R, 1>(b + c0, a, pairs, c, k, start, du + c0);
  }
}

constexpr int64_t kRows = 12;  // rows per micro-kernel (12 x 2 accumulators)

// Rows [k_begin, k_end) of du (rows `c` apart, k_end - k_begin a multiple of 4) for all columns.
inline void accumulate_row_range(const uint16_t* b, const uint16_t* a, int64_t pairs, int64_t c,
                                 int64_t k, int64_t k_begin, int64_t k_end, bool start, float* du) {
  int64_t r = k_begin;
  for (; k_end - r >= kRows; r += kRows)
    accumulate_rows<kRows>(b, a + r * 2, pairs, c, k, start, du + r * c);
  if (k_end - r == 8) accumulate_rows<8>(b, a + r * 2, pairs, c, k, start, du + r * c);
  if (k_end - r == 4) accumulate_rows<4>(b, a + r * 2, pairs, c, k, start, du + r * c);
}

// Where threads share the products of one chunk (the wide layers), the work goes in pieces
// taken as they come: `kRowPieces` pieces of rows for each of `parts` (Winograd positions or
// taps). With whole parts, or a fixed share of the rows per thread, a thread slowed by this
// VM's neighbours left the other waiting at the loop's end. Each piece's rows are summed by one
// thread, chunk after chunk in order, so the sums do not depend on which thread took which.
constexpr int64_t kRowPieces = 4;
struct RowPiece {
  int64_t part, k_begin, k_end;
};
// Piece `piece` of [0, parts * kRowPieces) over k rows (k a multiple of 16, so that each piece
// is a multiple of 4 rows, as accumulate_row_range takes).
inline RowPiece row_piece(int64_t piece, int64_t k) {
  const int64_t rows = k / kRowPieces, k_begin = piece % kRowPieces * rows;
  return {piece / kRowPieces, k_begin, k_begin + rows};
}

// Inside a parallel region where each thread summed into float32 sums of its own (thread t's
// `count` of them at first + t * stride_bytes, `count` a multiple of 16), once all are complete:
// every thread's sums added into thread 0's, the threads splitting the work (an omp for, so
// it ends at the loop's barrier).
inline void add_into_first(float* first, int64_t stride_bytes, int64_t count) {
  const int team = omp_get_num_threads();
  auto sums_of = [&](int thread) {
    return reinterpret_cast<float*>(reinterpret_cast<char*>(first) + thread * stride_bytes);
  };
#pragma omp for schedule(static)
  for (int64_t i = 0; i < count; i += 16) {
    __m512 sum = _mm512_loadu_ps(first + i);
    for (int t = 1; t < team; ++t) sum = _mm512_add_ps(sum, _mm512_loadu_ps(sums_of(t) + i));
    _mm512_storeu_ps(first + i, sum);
  }
}

}  // namespace
}  // namespace sg::onednn::bf16_pairs
