#pragma once
// bf16 matrix products on AMX tiles, for the im2col products of the amx tier (conv2d_gemm.h,
// conv2d_backward_weight_gemm.h).
// oneDNN 2.6's AMX matmul reaches 1.4-2.0 TFLOP/s on those products on a 2-core Xeon slice;
// this plain kernel on operands packed in tile order reaches 2.3-2.5 (bench/amx_rates,
// docs/PERFORMANCE.md). Each thread keeps four 16x16 float32 accumulators (a 32x32 block of
// C) in tiles 0-3 for the whole sum, and loads two 16x32 tiles of A (4, 5) and two of B (6, 7)
// per step of 32: four loads for four tile products.
//
// The packed layouts (k a multiple of 32; rows of A and columns of B padded to multiples of 32
// with zeros):
//   A [m, k], row tiles:     element (i, j) at ((i/16) * (k/32) + j/32) * 512 + (i%16) * 32 + j%32
//   B [k, n], column panels: element (j, c) at (c/16) * k * 16 + (j/2) * 32 + (c%16) * 2 + j%2
// B's pairs of rows sit side by side because a tile product multiplies pairs of bf16 values.
#include <cstdint>

#include "engine/bfloat16.h"
#include "engine/shape.h"

namespace sg::onednn::amx {

// Whether this process can execute AMX bf16 tile instructions: the CPU has them (CPUID) and
// Linux granted the process the tile state (arch_prctl ARCH_REQ_XCOMP_PERM). Asked once;
// defined in kernel_choice.cpp, which is compiled for any x86-64 (this file's .cpp is not).
bool usable();

// Whether a convolution with weight [K, C, R, S] can have its im2col products on tiles:
// kernel_choice().amx_matmul, and K and C multiples of 32 (the runs of 32 channels the row tiles
// and panels are made of). Defined in kernel_choice.cpp with usable().
bool fits_conv_weight(const Shape& w_shape);

// Loads the calling thread's tile configuration, the one every function here uses: palette 1,
// eight tiles of 16 rows x 64 bytes (accumulators 0-3, A tiles 4-5, B tiles 6-7). For callers
// that issue tile instructions themselves (bench/amx_rates); release with _tile_release().
void configure_tiles();

// m rounded up to the 32 rows (or columns) a packed operand holds per block.
inline int64_t padded(int64_t m) { return (m + 31) / 32 * 32; }

// C = A B for A packed as row tiles and B as column panels; rows i < m and columns c < n of C
// are written, row-major with row stride ldc, as float32 or rounded to bf16 (nearest even).
// k and n must be multiples of 32. Runs on the OpenMP threads. (The convolutions use the bf16
// form; the float32 one is bench/amx_rates' counterpart of oneDNN's float32-output matmul.)
void matmul(const uint16_t* a, const uint16_t* b, int64_t m, int64_t k, int64_t n, float* c,
            int64_t ldc);
void matmul(const uint16_t* a, const uint16_t* b, int64_t m, int64_t k, int64_t n, bfloat16* c,
            int64_t ldc);

// The weight gradient of a convolution as one product, written straight into OIHW: with A
// [out_channels, k] packed as row tiles and B [k, taps * channels] as column panels whose
// columns are (tap, channel) pairs (im2col's order),
//   out[(i * channels + c) * taps + t] = sum over q of A[i, q] B[q, t * channels + c]
// in float32. out_channels, channels and k multiples of 32. Runs on the OpenMP threads.
void matmul_oihw(const uint16_t* a, const uint16_t* b, int64_t out_channels, int64_t k,
                 int64_t channels, int64_t taps, float* out);

// OIHW runs from 32x32 float32 tap blocks: for r < 32 and e < 32 * taps,
//   out[r * out_stride + e] = sum over s < sets of
//       blocks[s * set_stride + (e % taps) * 1024 + (e / taps) * col_step + r * row_step]
// (a weight gradient's output channel r, its 32 input channels by taps, from the taps' blocks
// of one channel range, summed over `sets` partial sums: one per thread where threads shared
// out the pixels). row_step and col_step are 32 and 1 for blocks whose rows are output
// channels, 1 and 32 for blocks whose rows are input channels. On the calling thread alone.
void oihw_runs_from_tap_blocks(const float* blocks, int64_t sets, int64_t set_stride, int64_t taps,
                               int64_t row_step, int64_t col_step, float* out, int64_t out_stride);

// C += A B on the calling thread alone (for callers that share out the work themselves), C
// float32 row-major with row stride ldc; m, k and n multiples of 32.
void matmul_add(const uint16_t* a, const uint16_t* b, int64_t m, int64_t k, int64_t n, float* c,
                int64_t ldc);

// A float32 convolution weight w [K, C, R, S] (contiguous) rounded to bf16 (nearest even) and
// packed as the column panels of amx::matmul's right operand: the matrix with rows (r, s, q)
// and columns p, where p is dimension `column_dim` of w and q the other one (the forward
// product: p = K; backward data: p = C). K and C must be multiples of 16. Runs on the OpenMP
// threads.
void pack_weight_panels(const float* w, const Shape& w_shape, int column_dim, uint16_t* panels);
// Both panel layouts of w in one pass over it (w read from memory once, not once per layout):
// k_panels as pack_weight_panels with column_dim 0, c_panels with column_dim 1.
void pack_weight_panels_both(const float* w, const Shape& w_shape, uint16_t* k_panels,
                             uint16_t* c_panels);

// A sum of products with B shifted: for each of `count` shifts s,
//   C_s[i, j] += sum over q < k of A[i, q] B[q + 2 shifts[s], j]
// for B packed as column panels of pairs of rows (b at pair row 0 of panel 0, panel_stride
// elements from one panel to the next), read shifted by whole pairs, so that every tile load
// of B starts on a 64-byte boundary; A row-major, m rows lda elements apart (the weight
// gradient on the grid with its positions paired across the halves: im2col_nhwc.h). m, k and
// n multiples of 32. Adds the sums of column blocks first_block .. last_block - 1 (blocks of 32
// columns) to `blocks`, float32 32x32 blocks in row-major order, block (i, j) of shift s at
// ((i * n/32 + j) * count + s) * 1024; without `accumulate` they are overwritten instead. On
// the calling thread alone.
struct ShiftedPanelsProduct {
  const uint16_t* a;
  int64_t lda;
  const uint16_t* b;
  int64_t panel_stride;
  const int64_t* shifts;
  int64_t count;
  int64_t m, k, n;
};
void shifted_panels_matmul_add(const ShiftedPanelsProduct& p, int64_t first_block,
                               int64_t last_block, bool accumulate, float* blocks);

// Sums over taps of products of shifted rows, each row written to its own place: for each
// phase f,
//   out[out_rows_f[q], c] = sum over taps t of f, q' < k of A[q + shifts_f[t], q'] B_t[q', c]
// for each row q < m whose out_rows_f[q] is not negative, rounded to bf16 (row stride ldo). The
// backward-data pass of a convolution on a padded pixel grid (conv2d_gemm.cpp), one phase per
// class of input pixels that read dy through the same taps: A holds dy, one grid position per
// row (lda elements apart, readable at rows shifts[t] .. m - 1 + shifts[t]), and B_t is block
// panel_taps[t] of a weight's column panels packed with rows (tap, q') (pack_weight_panels with
// k rows per tap; panel_stride elements from one panel to the next). The phases of a block of
// rows run one after another, so that the rows of A they share are read from cache. m, k and n
// multiples of 32. Runs on the OpenMP threads.
struct ShiftedRowsPhase {
  const int64_t* shifts;
  const int64_t* panel_taps;
  int64_t taps;
  const int64_t* out_rows;
};

struct ShiftedRowsProduct {
  const uint16_t* a;
  int64_t lda;
  const uint16_t* b;
  int64_t panel_stride;
  const ShiftedRowsPhase* phases;
  int64_t phase_count;
  int64_t m, k, n;
};

void shifted_rows_matmul(const ShiftedRowsProduct& p, bfloat16* out, int64_t ldo);

}  // namespace sg::onednn::amx
