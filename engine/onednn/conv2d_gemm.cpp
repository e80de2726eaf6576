#include "engine/onednn/conv2d_gemm.h"

#include <algorithm>

#include "engine/onednn/context.h"
#include "engine/onednn/im2col_nhwc.h"
#include "engine/ops.h"

namespace sg::onednn {

using dnnl::memory;

namespace {

// Where the product wins (see the header): outputs up to 4x4 pixels, 512 channels or more.
constexpr int64_t kMaxOutputPixels = 4 * 4;
constexpr int64_t kMinChannels = 512;

// out[P, Y] = cols(input)[P, R*S*X] x weights[R*S*X, Y], where input is [N, X, H, W] and out
// [N, Y, Ho, Wo], both bf16 NHWC. `weight_tag` lays w [K, C, R, S] out so that it is that
// matrix column by column (each column's R*S*X entries contiguous): acdb (OHWI) for the
// forward product, bcda (IHWO) for backward data.
Tensor product(const Tensor& input, const Tensor& w, const Shape& out_shape, Conv2dOptions o,
               bool reversed_taps, memory::format_tag weight_tag) {
  const int64_t R = w.shape()[2], S = w.shape()[3], X = input.shape()[1], Y = out_shape[1];
  const int64_t P = out_shape[0] * out_shape[2] * out_shape[3], row = R * S * X;
  const auto bf16 = memory::data_type::bf16;
  Tensor src = in_layout(input, nhwc_bf16(input.shape()));
  Tensor wts = cached_weights(w, memory::desc(dims(w.shape()), bf16, weight_tag));
  uint16_t* cols = im2col_scratch(size_t(P) * size_t(row));
  im2col_nhwc(static_cast<const uint16_t*>(src.raw_data()), input.shape(), out_shape, R, S, o,
              reversed_taps, cols);

  memory::desc a({P, row}, bf16, memory::dims{row, 1});
  memory::desc b({row, Y}, bf16, memory::dims{1, row});
  memory::desc c({P, Y}, bf16, memory::dims{Y, 1});
  const auto& p = cached_primitive("conv_gemm|" + desc_key(a) + "|" + desc_key(b), [&] {
    dnnl::matmul::primitive_desc pd({a, b, c}, default_attr(), cpu_engine());
    return CachedPrimitive{pd, dnnl::matmul(pd)};
  });
  Tensor out = empty_like_desc(nhwc_bf16(out_shape), out_shape, DType::BFloat16);
  execute(p, {{DNNL_ARG_SRC, memory(a, cpu_engine(), cols)},
              {DNNL_ARG_WEIGHTS, memory(b, cpu_engine(), wts.raw_data())},
              {DNNL_ARG_DST, memory(c, cpu_engine(), out.raw_data())}});
  return out;
}

}  // namespace

bool conv2d_gemm_applies(const Shape& w_shape, const Shape& y_shape, Conv2dOptions o,
                         bool backward_data) {
  if (y_shape[2] * y_shape[3] > kMaxOutputPixels) return false;
  if (std::max(w_shape[0], w_shape[1]) < kMinChannels) return false;
  // Backward data reads dy through padding R-1-pad on each side, which must not be negative
  // (and is one number for both sides only for square kernels).
  return !backward_data ||
         (o.stride == 1 && w_shape[2] == w_shape[3] && o.padding <= w_shape[2] - 1);
}

Tensor conv2d_forward_gemm(const Tensor& x, const Tensor& w, Conv2dOptions o) {
  Shape y_shape = engine::conv2d_output_shape(x.shape(), w.shape(), o);
  return product(x, w, y_shape, o, /*reversed_taps=*/false, memory::format_tag::acdb);
}

Tensor conv2d_backward_data_gemm(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                                 Conv2dOptions o) {
  SG_CHECK(o.stride == 1, "conv2d_backward_data_gemm: stride ", o.stride, ", expected 1");
  // The transposed convolution of a stride-1 one: dy padded by R-1-pad, taps reversed.
  Conv2dOptions transposed{1, w.shape()[2] - 1 - o.padding};
  return product(grad_y, w, x_shape, transposed, /*reversed_taps=*/true, memory::format_tag::bcda);
}

}  // namespace sg::onednn
