#pragma once
// im2col for bf16 activations in NHWC: the rows a convolution reads, as a matrix, so that the
// convolution becomes one matrix product (conv2d_gemm.h, conv2d_backward_weight_gemm.h).
#include <cstdint>
#include <vector>

#include "engine/backend.h"
#include "engine/tensor.h"

namespace sg::onednn {

// For each output pixel p = (n, ho, wo) of out_shape [N, *, Ho, Wo], row p of cols holds the
// R*S input pixels the kernel window reads, C channels each, from x [N, C, H, W] (NHWC):
//   cols[p, (r*S + s)*C + c] = x[n, ho*stride - pad + r, wo*stride - pad + s, c]  (0 outside)
// With `reversed_taps` the row's R*S blocks come in reverse order: block (r, s) holds what tap
// (R-1-r, S-1-s) reads. That turns the backward-data convolution into a forward product with
// the weights transposed but not rotated (conv2d_gemm.cpp).
void im2col_nhwc(const uint16_t* x, const Shape& x_shape, const Shape& out_shape, int64_t R,
                 int64_t S, Conv2dOptions o, bool reversed_taps, uint16_t* cols);

// The same matrix packed as the left operand of amx::matmul (amx_matmul.h: row tiles of 16 x
// 32 values), its rows padded with zeros to a multiple of 32. C must be a multiple of 32.
void im2col_nhwc_tiles(const uint16_t* x, const Shape& x_shape, const Shape& out_shape, int64_t R,
                       int64_t S, Conv2dOptions o, bool reversed_taps, uint16_t* tiles);

// Rows first_pixel .. first_pixel + pixels - 1 of the same matrix (taps in order) packed as
// the right operand of amx::matmul (column panels: pairs of rows side by side), padded with
// zero rows to a multiple of 32: the operand of a weight gradient's product dY^T cols. C must be
// a multiple of 32; AVX-512BW (the AMX tier's packer).
void im2col_nhwc_panels(const uint16_t* x, const Shape& x_shape, const Shape& out_shape, int64_t R,
                        int64_t S, Conv2dOptions o, int64_t first_pixel, int64_t pixels,
                        uint16_t* panels);

// The pixels of a batch laid out for a stride-1 convolution whose kernel, 2*pad + 1 square,
// keeps the image size: each image row followed by `pad` zero columns and each image by `pad`
// zero rows, all images one after another. On that grid the input pixel that tap (r, s) reads
// for the output at position q is the one at q + shift(r, s) for every q, borders included
// (they read zeros). So the weight gradient becomes R*S products of shifted copies of one
// operand (conv2d_backward_weight_gemm.cpp) instead of one product with the R*S times larger
// im2col matrix.
struct PixelGrid {
  int64_t images, height, width, pad;
  int64_t row() const { return width + pad; }
  int64_t position(int64_t n, int64_t h, int64_t w) const {
    return (n * (height + pad) + h) * row() + w;
  }
  int64_t positions() const { return position(images, 0, 0); }
  int64_t padded_positions() const { return (positions() + 31) / 32 * 32; }
  int64_t shift(int64_t r, int64_t s) const { return (r - pad) * row() + (s - pad); }
  // The largest shift either way.
  int64_t margin() const { return pad * row() + pad; }
  // Positions paired across the grid's two halves (grid_paired_rows, grid_paired_panels): pair
  // q' < half() holds positions q' and q' + half(). A multiple of 16.
  int64_t half() const { return padded_positions() / 2; }
  // Elements from one channel to the next in grid_paired_rows (an odd number of 64-byte lines).
  int64_t paired_row_stride() const { return ((padded_positions() / 32) | 1) * 32; }
  // Pairs per panel of grid_paired_panels: margin() before pair 0, half(), margin() after,
  // rounded up to 16.
  int64_t paired_panel_rows() const { return (half() + 2 * margin() + 15) / 16 * 16; }
};

// x [N, H, W, C] (NHWC) on the grid pixel by pixel: the C channels of position q at
// (margin() + q) * C, zeros at the grid's padding, in the margin before position 0 and for
// margin() positions past padded_positions(); grid_pixels_size() elements in all. The rows that
// amx::shifted_rows_matmul reads, shifted, for a convolution's backward-data pass.
void grid_pixels(const uint16_t* x, int64_t channels, const PixelGrid& grid, uint16_t* pixels);
inline int64_t grid_pixels_size(int64_t channels, const PixelGrid& g) {
  return (g.margin() + g.padded_positions() + g.margin()) * channels;
}

// The NHWC pixel index of each grid position (-1 at the padding), looked up instead of dividing
// positions by the grid's sizes: by the weight gradient's packers below, and for the rows of dx
// that backward data on the grid writes (conv2d_gemm.cpp).
class GridPixelIndex {
 public:
  // A tensor of the grid's own size: position {n, h, w} is pixel {n, h, w}.
  explicit GridPixelIndex(const PixelGrid& g);
  // One phase of a larger tensor, `height` x `width` pixels a stride-s convolution reads with
  // the grid as its output: position {n, h, w} is pixel {n, s*h + row_phase, s*w + col_phase}
  // (-1 where that is outside the tensor).
  GridPixelIndex(const PixelGrid& g, int64_t s, int64_t row_phase, int64_t col_phase,
                 int64_t height, int64_t width);
  const PixelGrid& grid() const { return grid_; }
  // The pixel index at position q, or -1 at the padding and outside the grid.
  int64_t at(int64_t q) const {
    return q < 0 || q >= int64_t(index_.size()) ? -1 : index_[size_t(q)];
  }
  // The channels of position q of t (NHWC, `channels` per pixel), or nullptr at the padding
  // and outside the grid.
  const uint16_t* pixel(const uint16_t* t, int64_t channels, int64_t q) const {
    const int64_t i = at(q);
    return i < 0 ? nullptr : t + i * channels;
  }

 private:
  PixelGrid grid_;
  std::vector<int32_t> index_;
};

// The same index, made once per shape and phase and kept (an explicit cache, per thread: a
// training run uses a few grids, and building one is a serial loop over its positions, 0.04 ms
// at 32x32 with the other thread waiting).
const GridPixelIndex& cached_grid_pixel_index(const PixelGrid& g, int64_t s, int64_t row_phase,
                                              int64_t col_phase, int64_t height, int64_t width);

// The weight gradient's two operands on the grid with its positions paired across the halves
// (a tile product multiplies pairs of bf16 values along the sum: any pairing serves, if both
// operands share it). Paired so, a window of positions shifted by s is the window of pairs
// shifted by s, and the shifted operand's tile rows (one pair of 16 channels, 64 bytes) stay
// on 64-byte boundaries for every tap; with neighbouring positions paired, odd shifts split the
// pairs, and shifted rows of a channel-major grid start anywhere in a line, which cost the
// products 10-20% (the layout before 2026-12-07's sixteenth session). Both pack a range, on the
// calling thread alone, so that a thread can pack a chunk into its cache and multiply it there.
//
// dy [N, H, W, K] (NHWC, K a multiple of 32) as K rows of the paired positions, the left operand:
// value v = 2q' + h of the rows is position q' + h * half() (zeros at the padding and past the
// last position). Values first_value .. first_value + count - 1 (multiples of 32), value v of
// channel k at rows[k * row_stride + v - first_value]. AVX-512BW (the AMX tier's packer).
void grid_paired_rows(const uint16_t* dy, int64_t channels, const GridPixelIndex& index,
                      int64_t first_value, int64_t count, uint16_t* rows, int64_t row_stride);
// x [N, H, W, C] (NHWC, C a multiple of 32) as column panels of the paired positions, the right
// operand, read shifted: pair row q' holds channel c of position q' + h * half() at (c%16) * 2 +
// h (zeros at the padding and outside the positions). Pair rows first_pair .. first_pair + pairs
// - 1 (pairs a multiple of 16; the shifted reads take first_pair from -margin()), pair row q' of
// panel c/16 at panels[(c/16) * panel_stride + (q' - first_pair) * 32]. AVX-512BW.
void grid_paired_panels(const uint16_t* x, int64_t channels, const GridPixelIndex& index,
                        int64_t first_pair, int64_t pairs, uint16_t* panels, int64_t panel_stride);

// The transpose of y [pixels, channels] (an NHWC activation or gradient) packed as the left
// operand of amx::matmul (row tiles), its columns (pixels) padded with zeros to a multiple of
// 32. channels must be a multiple of 32; AVX-512BW (the AMX tier's packer).
void transpose_nhwc_tiles(const uint16_t* y, int64_t pixels, int64_t channels, uint16_t* tiles);

// One im2col buffer per calling thread, grown as needed and kept for the next call (tens of
// MB at most); its contents do not survive the next call.
uint16_t* im2col_scratch(size_t elements);

}  // namespace sg::onednn
