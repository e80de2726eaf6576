#include "engine/onednn/conv2d_backward_weight_gemm.h"

#include "engine/onednn/amx_matmul.h"
#include "engine/onednn/context.h"
#include "engine/onednn/im2col_nhwc.h"
#include "engine/onednn/kernel_choice.h"
#include "engine/ops.h"

namespace sg::onednn {

using dnnl::memory;

namespace {

// Output area at or below which the product beats oneDNN's AMX convolution for 3x3 kernels.
// At 16x16 the convolution wins (ResNet-18 width 64, batch 64: 196 ms/step with the product
// there too, 187 without).
constexpr int64_t kMaxOutputPixels = 8 * 8;

}  // namespace

bool conv2d_backward_weight_gemm_applies(const Shape& y_shape, const Shape& w_shape) {
  return (w_shape[2] == 1 && w_shape[3] == 1) || y_shape[2] * y_shape[3] <= kMaxOutputPixels;
}

Tensor conv2d_backward_weight_gemm(const Tensor& grad_y, const Tensor& x, const Shape& w_shape,
                                   Conv2dOptions o) {
  const Shape& ys = grad_y.shape();
  const int64_t K = w_shape[0], pixels = ys[0] * ys[2] * ys[3];
  const int64_t row = w_shape[1] * w_shape[2] * w_shape[3];
  const auto bf16 = memory::data_type::bf16, f32 = memory::data_type::f32;
  Tensor src = in_layout(x, nhwc_bf16(x.shape()));
  Tensor diff_dst = in_layout(grad_y, nhwc_bf16(ys));

  // Not for 1x1 kernels: there the sum runs over many pixels for few outputs, the tile
  // product streams both operands from memory, and oneDNN's matmul is faster (0.27-0.73 ms
  // against 0.33-1.58 for ResNet-18's shortcuts at batch 64).
  if (kernel_choice().amx_matmul && K % 32 == 0 && w_shape[1] % 32 == 0 && row > w_shape[1]) {
    // dW[K, (r,s,c)] = dY^T cols on AMX tiles (amx_matmul.h), the pixels the sum: dY^T as row
    // tiles, cols as column panels, both padded to a multiple of 32 pixels with zeros. The
    // product's rows are OHWI; each is turned into OIHW after, within L1. (Writing the product
    // straight into OIHW, one 4-byte store per 36 bytes, measured the same.)
    const int64_t padded_pixels = amx::padded(pixels);
    thread_local ScratchBuffer tiles_buffer;  // K x pixels bf16, a few MB; kept for the next call
    auto* tiles = reinterpret_cast<uint16_t*>(
        tiles_buffer.get(size_t(K) * size_t(padded_pixels) * sizeof(uint16_t)));
    transpose_nhwc_tiles(static_cast<const uint16_t*>(diff_dst.raw_data()), pixels, K, tiles);
    uint16_t* panels = im2col_scratch(size_t(padded_pixels) * size_t(row));
    im2col_nhwc_panels(static_cast<const uint16_t*>(src.raw_data()), x.shape(), ys, w_shape[2],
                       w_shape[3], o, panels);
    thread_local ScratchBuffer ohwi_buffer;  // the fp32 gradient, 9.4 MB at 512x512x3x3
    auto* ohwi = reinterpret_cast<float*>(ohwi_buffer.get(size_t(K) * size_t(row) * sizeof(float)));
    amx::matmul(tiles, panels, K, padded_pixels, row, ohwi, row);
    Tensor dw = Tensor::empty(w_shape, DType::Float32);
    float* oihw = dw.data<float>();
    const int64_t C = w_shape[1], taps = w_shape[2] * w_shape[3];
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t tap = 0; tap < taps; ++tap)
        for (int64_t c = 0; c < C; ++c)
          oihw[(k * C + c) * taps + tap] = ohwi[k * row + tap * C + c];
    return dw;
  }

  uint16_t* cols = im2col_scratch(size_t(pixels) * size_t(row));
  im2col_nhwc(static_cast<const uint16_t*>(src.raw_data()), x.shape(), ys, w_shape[2], w_shape[3],
              o, /*reversed_taps=*/false, cols);

  // dY^T as the left operand: NHWC dY is [P, K] row-major, so [K, P] with strides {1, K}.
  // (Channel-major copies of dY and x, with P contiguous in both operands, make the matmul
  // itself up to 1.4x faster, but their im2col copies short runs: 214 ms/step against 187.)
  memory::desc a({K, pixels}, bf16, memory::dims{1, K});
  memory::desc b({pixels, row}, bf16, memory::dims{row, 1});
  // The product's rows are (r, s, c) runs per output channel: the weight in ohwi.
  memory::desc c({K, row}, f32, memory::dims{row, 1});
  memory::desc ohwi(dims(w_shape), f32, memory::format_tag::ohwi);
  Tensor dw = empty_like_desc(ohwi, w_shape, DType::Float32);
  run_matmul(a, diff_dst.raw_data(), b, cols, c, dw.raw_data());
  return engine::to_strided(dw);
}

}  // namespace sg::onednn
