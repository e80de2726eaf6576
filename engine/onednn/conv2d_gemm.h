#pragma once
// bf16 convolutions, forward and backward data, as one matrix product on AMX machines, for
// the shapes where oneDNN 2.6's AMX convolutions are slow: outputs of at most 4x4 pixels with
// 512 channels or more on either side (ResNet-18/34's last stage on 32x32 images, ResNet-50's
// too). There its forward kernel reaches 0.7-1.1 TFLOP/s and its backward-data kernel 0.6,
// where im2col and its AMX matmul take 1.1-1.6 TFLOP/s on the same products; with 256
// channels or 8x8 pixels the convolutions win (measured on a 2-core Xeon slice with AMX;
// docs/PERFORMANCE.md). With P = N*Ho*Wo output pixels:
//   forward        y[P, K]  = cols(x)[P, R*S*C] x W[R*S*C, K],    W[(r,s,c), k] = w[k, c, r, s]
//   backward data  dx[P', C] = cols'(dy)[P', R*S*K] x W'[R*S*K, C], W'[(r,s,k), c] = w[k, c, r, s]
// where cols' reads dy with its taps in reverse order (im2col_nhwc.h), so that W' needs no
// rotation: both weight matrices are plain reorders of w (OHWI and IHWO), cached per weight
// version. Activations are read and written in NHWC, the layout the AMX tier hands over.
// That needs stride 1: a strided convolution's transpose is no convolution of dy, so its
// backward data multiplies dy by W first and sums each input pixel's entries after (col2im).
// Where both channel counts are multiples of 32 and the process may use AMX tiles
// (kernel_choice().amx_matmul), the products run amx_matmul.h: im2col writes its row tiles and
// the weight matrices are its column panels, again one cached reorder of w each.
// With tiles, backward data also runs here for 3x3 and 1x1 kernels of stride 2 (and 3x3 of
// stride 1 at 8x8), on dy copied once onto a padded pixel grid (im2col_nhwc.h) and read in place by
// shifted tile products, one per phase of the input pixels: oneDNN 2.6's AMX backward-data
// kernel is slow at stride 2. Batch 64, 2 threads, ms per call, oneDNN -> grid:
//   64 -> 128 channels, 32x32 -> 16x16: 3.15-3.23 -> 2.80-2.91
//   128 -> 256, 16x16 -> 8x8:            2.82-2.84 -> 1.73-1.80
//   256 -> 512, 8x8 -> 4x4 (col2im):     1.97-2.01 -> 1.55-1.58
//   256 -> 256, stride 1 at 8x8:         2.33-2.37 -> 2.14
// and so for the 1x1 stride-2 shortcuts, whose phases other than the first read no tap and are
// written as zeros (oneDNN -> grid, best of 20 with caches flushed; in the step, oneDNN's took
// 1.29 and 0.83 ms a call):
//   64 -> 128, 32x32 -> 16x16:   0.70-0.72 -> 0.58-0.64
//   128 -> 256, 16x16 -> 8x8:    0.65-0.67 -> 0.32-0.37
//   256 -> 512, 8x8 -> 4x4:      0.34-0.35 (col2im) -> 0.29-0.33
// (at stride 1 the grid is no faster at 4x4 and 16x16, slower at 32x32).
#include "engine/backend.h"
#include "engine/tensor.h"

namespace sg::onednn {

// Whether the products run the forward and backward-data passes of a convolution with weight
// w_shape [K, C, R, S] and output y_shape [N, K, Ho, Wo], given that kernel_choice() allows it.
bool conv2d_gemm_applies(const Shape& w_shape, const Shape& y_shape);
// The same for the backward-data pass alone, which also runs the products where the pixel grid
// makes them win (x_shape [N, C, H, W] the convolution's input).
bool conv2d_gemm_backward_data_applies(const Shape& w_shape, const Shape& y_shape,
                                       const Shape& x_shape, Conv2dOptions o);

// bf16 y [N, K, Ho, Wo] (NHWC) of bf16 x [N, C, H, W] and weight w [K, C, R, S] (any dtype;
// rounded to bf16 as every bf16 convolution does). No bias.
Tensor conv2d_forward_gemm(const Tensor& x, const Tensor& w, Conv2dOptions o);

// bf16 dx [N, C, H, W] (NHWC) of bf16 grad_y [N, K, Ho, Wo].
Tensor conv2d_backward_data_gemm(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                                 Conv2dOptions o);

}  // namespace sg::onednn
