#pragma once
// The bf16 convolution weight gradient as one matrix product on AMX machines, for the shapes
// where oneDNN 2.6's AMX backward-weights convolution is slow: small outputs (ResNet's last
// stages on 32x32 images, 4x4 and 8x8 pixels) and 1x1 kernels. There its kernel reached
// 0.08-0.85 TFLOP/s, while its AMX matmul does 1.1-1.8 on the same products (measured on a
// 2-core Xeon slice with AMX; docs/PERFORMANCE.md). With P = N*Ho*Wo output pixels:
//   dW[K, R*S*C] = dY^T[K, P] x cols[P, R*S*C]
// where cols (im2col) holds, for each output pixel, the R*S input pixels its kernel window
// reads, C channels each. Both dY and x are read as NHWC, the layout oneDNN's AMX
// convolutions hand over, so dY needs no copy and cols rows are channel runs of x.
// With kernel_choice().amx_matmul, kernels larger than 1x1 and channel counts that are
// multiples of 32, the product runs amx_matmul.h instead of oneDNN's matmul: dY^T packed as
// row tiles, cols as column panels (1.07-1.37x the oneDNN path on ResNet-18's shapes), in
// chunks of pixels that stay in L2 where a chunk can hold 128 pixels or more; there it also
// takes 3x3 kernels with 16x16 outputs (ResNet-18 width 64: 3-4 ms a step less).
// Stride-1 "same" convolutions with 8x8 to 32x32 outputs skip im2col: on a padded grid of
// pixels (im2col_nhwc.h, PixelGrid) each tap's product reads x shifted in place
// (amx::shifted_panels_matmul_add), so x is packed once instead of R*S times (1.0 ms a call
// less at 8x8 and 16x16; 5-7 ms a step); at 32x32 that is faster than oneDNN's convolution
// too, 2.6-2.9 against 3.45-3.8 ms a call. Stride-2 3x3 (padded by 1) and 1x1 convolutions
// into 8x8 to 32x32 take the output's grid, with x in the phases their taps read.
#include "engine/backend.h"
#include "engine/tensor.h"

namespace sg::onednn {

// Whether the product runs this convolution's weight gradient, given that kernel_choice()
// allows it: output y_shape [N, K, Ho, Wo], weight w_shape [K, C, R, S].
bool conv2d_backward_weight_gemm_applies(const Shape& y_shape, const Shape& w_shape,
                                         Conv2dOptions o);

// The float32 weight gradient [K, C, R, S] of bf16 grad_y [N, K, Ho, Wo] and x [N, C, H, W].
Tensor conv2d_backward_weight_gemm(const Tensor& grad_y, const Tensor& x, const Shape& w_shape,
                                   Conv2dOptions o);

}  // namespace sg::onednn
