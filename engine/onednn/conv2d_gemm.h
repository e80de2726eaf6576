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
#include "engine/backend.h"
#include "engine/tensor.h"

namespace sg::onednn {

// Whether the products run the forward and backward-data passes of a convolution with weight
// w_shape [K, C, R, S] and output y_shape [N, K, Ho, Wo], given that kernel_choice() allows it.
bool conv2d_gemm_applies(const Shape& w_shape, const Shape& y_shape);

// bf16 y [N, K, Ho, Wo] (NHWC) of bf16 x [N, C, H, W] and weight w [K, C, R, S] (any dtype;
// rounded to bf16 as every bf16 convolution does). No bias.
Tensor conv2d_forward_gemm(const Tensor& x, const Tensor& w, Conv2dOptions o);

// bf16 dx [N, C, H, W] (NHWC) of bf16 grad_y [N, K, Ho, Wo].
Tensor conv2d_backward_data_gemm(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                                 Conv2dOptions o);

}  // namespace sg::onednn
