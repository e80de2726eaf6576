#include "engine/onednn/conv2d_backward_weight_gemm.h"

#include <cstring>

#include "engine/onednn/context.h"
#include "engine/ops.h"

namespace sg::onednn {

using dnnl::memory;

namespace {

// Output area at or below which the product beats oneDNN's AMX convolution for 3x3 kernels.
// At 16x16 the convolution wins (ResNet-18 width 64, batch 64: 196 ms/step with the product
// there too, 187 without).
constexpr int64_t kMaxOutputPixels = 8 * 8;

// cols[p, (r*S + s)*C + c] = x[n, ho*stride - pad + r, wo*stride - pad + s, c] (0 outside).
void im2col_nhwc(const uint16_t* x, const Shape& xs, const Shape& ys, const Shape& ws,
                 Conv2dOptions o, uint16_t* cols) {
  const int64_t H = xs[2], W = xs[3], C = xs[1], Ho = ys[2], Wo = ys[3], R = ws[2], S = ws[3];
  const int64_t pixels = ys[0] * Ho * Wo, row = R * S * C;
  // Each pixel's row is R*S channel runs: few, long copies, spread over the threads.
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pixels; ++p) {
    const int64_t n = p / (Ho * Wo), ho = p / Wo % Ho, wo = p % Wo;
    uint16_t* dst = cols + p * row;
    for (int64_t r = 0; r < R; ++r) {
      const int64_t hi = ho * o.stride - o.padding + r;
      for (int64_t s = 0; s < S; ++s, dst += C) {
        const int64_t wi = wo * o.stride - o.padding + s;
        if (hi < 0 || hi >= H || wi < 0 || wi >= W)
          std::memset(dst, 0, size_t(C) * sizeof(uint16_t));
        else
          std::memcpy(dst, x + ((n * H + hi) * W + wi) * C, size_t(C) * sizeof(uint16_t));
      }
    }
  }
}

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

  thread_local ScratchBuffer cols_buffer;  // tens of MB at most; kept for the next step
  auto* cols =
      reinterpret_cast<uint16_t*>(cols_buffer.get(size_t(pixels) * size_t(row) * sizeof(uint16_t)));
  im2col_nhwc(static_cast<const uint16_t*>(src.raw_data()), x.shape(), ys, w_shape, o, cols);

  // dY^T as the left operand: NHWC dY is [P, K] row-major, so [K, P] with strides {1, K}.
  // (Channel-major copies of dY and x, with P contiguous in both operands, make the matmul
  // itself up to 1.4x faster, but their im2col copies short runs: 214 ms/step against 187.)
  memory::desc a({K, pixels}, bf16, memory::dims{1, K});
  memory::desc b({pixels, row}, bf16, memory::dims{row, 1});
  // The product's rows are (r, s, c) runs per output channel: the weight in ohwi.
  memory::desc c({K, row}, f32, memory::dims{row, 1});
  const auto& p = cached_primitive("conv_bwd_weights_gemm|" + desc_key(a) + "|" + desc_key(b), [&] {
    dnnl::matmul::primitive_desc pd({a, b, c}, default_attr(), cpu_engine());
    return CachedPrimitive{pd, dnnl::matmul(pd)};
  });
  memory::desc ohwi(dims(w_shape), f32, memory::format_tag::ohwi);
  Tensor dw = empty_like_desc(ohwi, w_shape, DType::Float32);
  execute(p, {{DNNL_ARG_SRC, memory(a, cpu_engine(), diff_dst.raw_data())},
              {DNNL_ARG_WEIGHTS, memory(b, cpu_engine(), cols)},
              {DNNL_ARG_DST, memory(c, cpu_engine(), dw.raw_data())}});
  return engine::to_strided(dw);
}

}  // namespace sg::onednn
