#pragma once
// im2col for bf16 activations in NHWC: the rows a convolution reads, as a matrix, so that the
// convolution becomes one matrix product (conv2d_gemm.h, conv2d_backward_weight_gemm.h).
#include <cstdint>

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
// a multiple of 16.
void im2col_nhwc_panels(const uint16_t* x, const Shape& x_shape, const Shape& out_shape, int64_t R,
                        int64_t S, Conv2dOptions o, int64_t first_pixel, int64_t pixels,
                        uint16_t* panels);

// The transpose of y [pixels, channels] (an NHWC activation or gradient) packed as the left
// operand of amx::matmul (row tiles), its columns (pixels) padded with zeros to a multiple of
// 32. channels must be a multiple of 16.
void transpose_nhwc_tiles(const uint16_t* y, int64_t pixels, int64_t channels, uint16_t* tiles);

// One im2col buffer per calling thread, grown as needed and kept for the next call (tens of
// MB at most); its contents do not survive the next call.
uint16_t* im2col_scratch(size_t elements);

}  // namespace sg::onednn
