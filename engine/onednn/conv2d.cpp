// oneDNN convolutions. Every primitive is created with format `any`, so oneDNN picks its
// fastest (blocked) layouts; inputs are reordered into them only when they arrive in another
// layout, and weights through the per-version weight cache.
//
// Stride-1 3x3 convolutions use Winograd's F(4x4, 3x3) algorithm where oneDNN has it: it does
// the same convolution with about a quarter of the multiplications (2-5x faster here for
// ResNet's shapes, forward and both backward passes; docs/PERFORMANCE.md), at the price of
// float32 rounding errors around 1e-5 relative instead of 1e-6. oneDNN 2.6 has no bf16
// Winograd, so bf16 stride-1 3x3 convolutions (all three passes) run our own F(2x2, 3x3)
// kernels (conv2d_winograd_bf16.h) on AVX-512 BF16 CPUs without AMX whose bf16 dot products
// outrun their fp32 FMAs; where they do not, bf16 convolutions run the fp32 kernels on
// bf16-rounded operands. On AMX machines the bf16 weight gradients of small outputs run as
// one matrix product (conv2d_backward_weight_gemm.h), and so do the other two passes where
// outputs are at most 4x4 pixels with 512 channels or more (conv2d_gemm.h); backward data of
// the other stride-1 3x3 ones runs as oneDNN's forward convolution with the turned weight
// (backward_data_as_forward). Which kernel runs where is decided in one place, kernel_choice.h.
#include <mutex>

#include "engine/onednn/context.h"
#include "engine/onednn/conv2d_backward_weight_bf16.h"
#include "engine/onednn/conv2d_backward_weight_gemm.h"
#include "engine/onednn/conv2d_gemm.h"
#include "engine/onednn/conv2d_winograd_bf16.h"
#include "engine/onednn/kernel_choice.h"
#include "engine/onednn/onednn_backend.h"
#include "engine/ops.h"
#include "engine/parallel.h"

namespace sg {

using namespace onednn;
using dnnl::memory;

namespace {

bool supported(const Tensor& x) {
  return x.dtype() == DType::Float32 || x.dtype() == DType::BFloat16;
}

memory::desc any(const Shape& shape, DType dtype) {
  return memory::desc(dims(shape), data_type(dtype), memory::format_tag::any);
}

struct ConvShapes {
  Shape x, w, y;
  DType dtype;  // of activations; weights are converted to it
  bool bias;
  Conv2dOptions o;
  bool winograd_candidate() const {
    return w[2] == 3 && w[3] == 3 && o.stride == 1 && dtype == DType::Float32;
  }
  std::string key() const {
    return shape_str(x) + shape_str(w) + "s" + std::to_string(o.stride) + "p" +
           std::to_string(o.padding) + std::string(dtype_name(dtype)) + (bias ? "b" : "");
  }
  memory::dims strides() const { return {o.stride, o.stride}; }
  memory::dims padding() const { return {o.padding, o.padding}; }
};

dnnl::convolution_forward::primitive_desc forward_pd(const ConvShapes& s, dnnl::algorithm alg) {
  memory::desc bias = s.bias ? memory::desc({s.w[0]}, memory::data_type::f32, memory::format_tag::a)
                             : memory::desc();
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, alg, any(s.x, s.dtype),
                                    any(s.w, s.dtype), bias, any(s.y, s.dtype), s.strides(),
                                    s.padding(), s.padding());
  return dnnl::convolution_forward::primitive_desc(d, default_attr(), cpu_engine(),
                                                   /*allow_empty=*/true);
}

// Winograd when oneDNN implements it for this shape in all three passes, else direct.
dnnl::algorithm algorithm_for(const ConvShapes& s) {
  static std::mutex mutex;
  static std::unordered_map<std::string, dnnl::algorithm>
      chosen;  // explicit cache: one probe per shape
  std::lock_guard lock(mutex);
  auto it = chosen.find(s.key());
  if (it != chosen.end()) return it->second;
  dnnl::algorithm alg = dnnl::algorithm::convolution_direct;
  if (s.winograd_candidate()) {
    auto wino = dnnl::algorithm::convolution_winograd;
    auto fwd = forward_pd(s, wino);
    if (fwd) {
      dnnl::convolution_backward_data::primitive_desc bd(
          {wino, any(s.x, s.dtype), any(s.w, s.dtype), any(s.y, s.dtype), s.strides(), s.padding(),
           s.padding()},
          default_attr(), cpu_engine(), fwd, true);
      dnnl::convolution_backward_weights::primitive_desc bw(
          {wino, any(s.x, s.dtype), any(s.w, DType::Float32), any(s.y, s.dtype), s.strides(),
           s.padding(), s.padding()},
          default_attr(), cpu_engine(), fwd, true);
      if (bd && bw) alg = wino;
    }
  }
  chosen.emplace(s.key(), alg);
  return alg;
}

dnnl::convolution_forward::primitive_desc forward_pd(const ConvShapes& s) {
  auto pd = forward_pd(s, algorithm_for(s));
  SG_CHECK(bool(pd), "oneDNN has no convolution for input ", shape_str(s.x), " and weight ",
           shape_str(s.w));
  return pd;
}

const CachedPrimitive& forward_primitive(const ConvShapes& s) {
  return cached_primitive("conv_fwd|" + s.key(), [&] {
    auto pd = forward_pd(s);
    return CachedPrimitive{pd, dnnl::convolution_forward(pd)};
  });
}

bool may_use_conv_gemm(const Tensor& input, bool bias) {
  return input.dtype() == DType::BFloat16 && !bias && kernel_choice().conv_gemm;
}

bool use_winograd_bf16(const Tensor& input, const Shape& w, Conv2dOptions o, bool bias) {
  return input.dtype() == DType::BFloat16 && !bias &&
         winograd_bf16::applies(w[1], w[0], w[2], w[3], o.stride, o.padding) &&
         kernel_choice().winograd_bf16;
}

// The float32 weights rounded to bf16 and widened again, once per optimizer step.
Tensor bf16_rounded(const Tensor& w) {
  if (w.dtype() != DType::Float32) return converted(w, DType::Float32);
  return cached_derived(w, "bf16_rounded", [](const Tensor& weight, Tensor) {
    return engine::to(engine::to(weight, DType::BFloat16), DType::Float32);
  });
}

// The AVX-512 BF16 kernels' scratch (transformed tiles, copied rows), one buffer per calling
// thread.
char* avx512_bf16_scratch(size_t bytes) {
  thread_local ScratchBuffer scratch;
  return scratch.get(bytes);
}

// input [N, in, H, W] -> [N, out, H, W]; the forward convolution, or with `backward_data`
// the one from output gradients to input gradients (weights transposed and rotated).
Tensor winograd_bf16_conv(const Tensor& input, const Tensor& w, bool backward_data) {
  const Shape& in = input.shape();
  Shape out_shape{in[0], backward_data ? w.shape()[1] : w.shape()[0], in[2], in[3]};
  Tensor src = in_layout(input, nchw16c_bf16(in));
  Tensor u = cached_derived(
      w, backward_data ? "winograd_bf16_backward_data" : "winograd_bf16",
      [&](const Tensor& weight, Tensor t) {
        Tensor w32 = float32_contiguous(weight);
        const Shape& ws = w32.shape();
        if (!t.defined())
          t = Tensor::empty({winograd_bf16::weights_size(ws[1], ws[0])}, DType::BFloat16);
        winograd_bf16::transform_weights(w32.data<float>(), ws[0], ws[1], backward_data,
                                         static_cast<uint16_t*>(t.raw_data()), num_threads());
        return t;
      });
  Tensor y = empty_like_desc(nchw16c_bf16(out_shape), out_shape, DType::BFloat16);
  winograd_bf16::Problem p{in[0], in[1], out_shape[1], in[2], in[3]};
  int threads = num_threads();
  char* scratch = avx512_bf16_scratch(size_t(winograd_bf16::scratch_bytes(p, threads)));
  winograd_bf16::convolve(p, static_cast<const uint16_t*>(src.raw_data()),
                          static_cast<const uint16_t*>(u.raw_data()),
                          static_cast<uint16_t*>(y.raw_data()), scratch, threads);
  return y;
}

// The float32 weight gradient [K, C, 3, 3] from bf16 x [N, C, H, W] and grad_y [N, K, H, W].
Tensor winograd_bf16_weight_grad(const Tensor& grad_y, const Tensor& x, const Shape& w_shape) {
  const Shape& in = x.shape();
  Tensor src = in_layout(x, nchw16c_bf16(in));
  Tensor diff_dst = in_layout(grad_y, nchw16c_bf16(grad_y.shape()));
  Tensor dw = Tensor::empty(w_shape, DType::Float32);
  winograd_bf16::Problem p{in[0], in[1], w_shape[0], in[2], in[3]};
  int threads = num_threads();
  char* scratch = avx512_bf16_scratch(size_t(winograd_bf16::weight_grad_scratch_bytes(p, threads)));
  winograd_bf16::weight_grad(p, static_cast<const uint16_t*>(src.raw_data()),
                             static_cast<const uint16_t*>(diff_dst.raw_data()), dw.data<float>(),
                             scratch, threads);
  return dw;
}

bool use_strided_weight_grad_bf16(const Tensor& x, const Shape& w, Conv2dOptions o) {
  return x.dtype() == DType::BFloat16 && o.stride >= 2 &&
         backward_weight_bf16::applies(w[1], w[0], w[2], w[3]) &&
         kernel_choice().strided_weight_grad_bf16;
}

// The float32 weight gradient [K, C, R, S] of a strided convolution from bf16 x and grad_y.
Tensor strided_weight_grad_bf16(const Tensor& grad_y, const Tensor& x, const Shape& w_shape,
                                Conv2dOptions o) {
  const Shape& in = x.shape();
  const Shape& out = grad_y.shape();
  Tensor src = in_layout(x, nchw16c_bf16(in));
  Tensor diff_dst = in_layout(grad_y, nchw16c_bf16(out));
  Tensor dw = Tensor::empty(w_shape, DType::Float32);
  backward_weight_bf16::Problem p{in[0],      in[1],    w_shape[0], in[2],  in[3], w_shape[2],
                                  w_shape[3], o.stride, o.padding,  out[2], out[3]};
  int threads = num_threads();
  char* scratch = avx512_bf16_scratch(size_t(backward_weight_bf16::scratch_bytes(p, threads)));
  backward_weight_bf16::weight_grad(p, static_cast<const uint16_t*>(src.raw_data()),
                                    static_cast<const uint16_t*>(diff_dst.raw_data()),
                                    dw.data<float>(), scratch, threads);
  return dw;
}

// Whether bf16 backward data of a 3x3 stride-1 convolution (the shapes measured) runs as a
// forward convolution of dy with the turned weight (backward_data_as_forward): on the amx
// tier, where our products do not take it (8x8 and 4x4 outputs, conv2d_gemm.h; at 8x8 the
// forward kernel was slower in the step: 1.95 ms a call against the grid's 1.9).
bool backward_data_as_forward_applies(const Tensor& grad_y, const Shape& w, const Shape& x_shape,
                                      Conv2dOptions o) {
  return may_use_conv_gemm(grad_y, false) && o.stride == 1 && w[2] == 3 && w[3] == 3 &&
         o.padding == 1 && !conv2d_gemm_backward_data_applies(w, grad_y.shape(), x_shape, o);
}

// w [K, C, R, S] turned into w'[c, k, r, s] = w[k, c, R-1-r, S-1-s], in `desc` (written into
// `out` when given): the taps of each (k, c) reversed into a scratch buffer (contiguous reads
// and writes), then k and c swapped by the reorder into `desc`, which reads the transposed view.
// (One loop gathering both took 0.17 ms per version of a 128x128x3x3 weight.)
Tensor turned_weight(const Tensor& w, const memory::desc& desc, Tensor out) {
  Tensor plain = float32_contiguous(w);
  const Shape& ws = plain.shape();
  const int64_t K = ws[0], C = ws[1], R = ws[2], S = ws[3], taps = R * S;
  thread_local ScratchBuffer buffer;  // the reversed weight; kept for the next call
  auto* reversed = reinterpret_cast<float*>(buffer.get(size_t(plain.numel()) * sizeof(float)));
  const float* from = plain.data<float>();
  parallel_for(K * C, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t tap = 0; tap < taps; ++tap)
        reversed[b * taps + tap] = from[b * taps + taps - 1 - tap];
  });
  const memory::desc transposed({C, K, R, S}, memory::data_type::f32, {taps, C * taps, S, 1});
  if (!out.defined()) out = empty_like_desc(desc, {C, K, R, S}, dtype_of(desc));
  reorder(memory(transposed, cpu_engine(), reversed), memory_of(out, desc));
  return out;
}

// Backward data of a stride-1 convolution is the forward convolution of dy with the weight
// turned around, w'[c, k, r, s] = w[k, c, R-1-r, S-1-s], padded by R-1-pad: run so, oneDNN 2.6's
// AMX forward kernels (brgconv) take it where its backward-data kernel (jit) is slower. Per
// call, batch 64, 2 threads, best of 12 with caches flushed, backward-data kernel -> forward:
// 64x64x3x3 at 32x32 1.41-1.48 -> 1.33-1.40 ms, 128x128 at 16x16 1.59-1.64 -> 1.16; in the
// step (ONEDNN_VERBOSE, means) 1.70 -> 1.37 and 1.79 -> 1.25. The turned weight, in the layout
// the forward primitive chose, is cached per weight version.
Tensor backward_data_as_forward(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                                Conv2dOptions o) {
  const Shape& ws = w.shape();
  const int64_t K = ws[0], C = ws[1], R = ws[2], S = ws[3];
  ConvShapes s{grad_y.shape(),  {C, K, R, S}, x_shape,
               DType::BFloat16, false,        {1, R - 1 - o.padding}};
  const auto& p = forward_primitive(s);
  Tensor wts = cached_derived(
      w, "turned for backward data|" + desc_key(p.pd.weights_desc()),
      [&](const Tensor& t, Tensor out) { return turned_weight(t, p.pd.weights_desc(), out); });
  Tensor src = in_layout(grad_y, p.pd.src_desc());
  Tensor dx = empty_like_desc(p.pd.dst_desc(), x_shape, DType::BFloat16);
  execute(p, {{DNNL_ARG_SRC, memory_of(src)},
              {DNNL_ARG_WEIGHTS, memory_of(wts)},
              {DNNL_ARG_DST, memory_of(dx, p.pd.dst_desc())}});
  return dx;
}

}  // namespace

Tensor OneDnnBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                                     Conv2dOptions o) {
  if (!supported(x)) return ReferenceBackend::conv2d_forward(x, w, bias, o);
  if (bf16_conv_via_fp32(x))
    return converted(conv2d_forward(converted(x, DType::Float32), bf16_rounded(w), bias, o),
                     DType::BFloat16);
  if (use_winograd_bf16(x, w.shape(), o, bias.defined())) return winograd_bf16_conv(x, w, false);
  ConvShapes s{x.shape(), w.shape(),      engine::conv2d_output_shape(x.shape(), w.shape(), o),
               x.dtype(), bias.defined(), o};
  if (may_use_conv_gemm(x, bias.defined()) && conv2d_gemm_applies(w.shape(), s.y))
    return conv2d_forward_gemm(x, w, o);
  const auto& p = forward_primitive(s);
  Tensor src = in_layout(x, p.pd.src_desc());
  Tensor wts = cached_weights(w, p.pd.weights_desc());
  Tensor y = empty_like_desc(p.pd.dst_desc(), s.y, s.dtype);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory_of(src)},
                                       {DNNL_ARG_WEIGHTS, memory_of(wts)},
                                       {DNNL_ARG_DST, memory_of(y, p.pd.dst_desc())}};
  if (bias.defined()) args.emplace(DNNL_ARG_BIAS, memory_of(bias));
  execute(p, args);
  return y;
}

Tensor OneDnnBackend::conv2d_backward_data(const Tensor& grad_y, const Tensor& w,
                                           const Shape& x_shape, Conv2dOptions o) {
  if (!supported(grad_y)) return ReferenceBackend::conv2d_backward_data(grad_y, w, x_shape, o);
  if (bf16_conv_via_fp32(grad_y))
    return converted(
        conv2d_backward_data(converted(grad_y, DType::Float32), bf16_rounded(w), x_shape, o),
        DType::BFloat16);
  if (use_winograd_bf16(grad_y, w.shape(), o, false)) return winograd_bf16_conv(grad_y, w, true);
  if (backward_data_as_forward_applies(grad_y, w.shape(), x_shape, o))
    return backward_data_as_forward(grad_y, w, x_shape, o);
  if (may_use_conv_gemm(grad_y, false) &&
      conv2d_gemm_backward_data_applies(w.shape(), grad_y.shape(), x_shape, o))
    return conv2d_backward_data_gemm(grad_y, w, x_shape, o);
  ConvShapes s{x_shape, w.shape(), grad_y.shape(), grad_y.dtype(), false, o};
  const auto& p = cached_primitive("conv_bwd_data|" + s.key(), [&] {
    dnnl::convolution_backward_data::desc d(algorithm_for(s), any(s.x, s.dtype), any(s.w, s.dtype),
                                            any(s.y, s.dtype), s.strides(), s.padding(),
                                            s.padding());
    dnnl::convolution_backward_data::primitive_desc pd(d, default_attr(), cpu_engine(),
                                                       forward_pd(s));
    return CachedPrimitive{pd, dnnl::convolution_backward_data(pd)};
  });
  Tensor diff_dst = in_layout(grad_y, p.pd.diff_dst_desc());
  Tensor wts = cached_weights(w, p.pd.weights_desc());
  Tensor dx = empty_like_desc(p.pd.diff_src_desc(), x_shape, s.dtype);
  execute(p, {{DNNL_ARG_DIFF_DST, memory_of(diff_dst)},
              {DNNL_ARG_WEIGHTS, memory_of(wts)},
              {DNNL_ARG_DIFF_SRC, memory_of(dx, p.pd.diff_src_desc())}});
  return dx;
}

// The weight gradient comes back strided (oihw, float32): the optimizer updates plain weights.
Tensor OneDnnBackend::conv2d_backward_weight(const Tensor& grad_y, const Tensor& x,
                                             const Shape& w_shape, Conv2dOptions o) {
  if (!supported(x)) return ReferenceBackend::conv2d_backward_weight(grad_y, x, w_shape, o);
  if (bf16_conv_via_fp32(x) || bf16_conv_via_fp32(grad_y))
    return conv2d_backward_weight(converted(grad_y, DType::Float32), converted(x, DType::Float32),
                                  w_shape, o);
  if (use_winograd_bf16(x, w_shape, o, false)) return winograd_bf16_weight_grad(grad_y, x, w_shape);
  if (use_strided_weight_grad_bf16(x, w_shape, o))
    return strided_weight_grad_bf16(grad_y, x, w_shape, o);
  if (x.dtype() == DType::BFloat16 && kernel_choice().weight_grad_gemm &&
      conv2d_backward_weight_gemm_applies(grad_y.shape(), w_shape, o))
    return conv2d_backward_weight_gemm(grad_y, x, w_shape, o);
  ConvShapes s{x.shape(), w_shape, grad_y.shape(), x.dtype(), false, o};
  const auto& p = cached_primitive("conv_bwd_weights|" + s.key(), [&] {
    memory::desc diff_w(dims(w_shape), memory::data_type::f32, memory::format_tag::any);
    dnnl::convolution_backward_weights::desc d(algorithm_for(s), any(s.x, s.dtype), diff_w,
                                               any(s.y, s.dtype), s.strides(), s.padding(),
                                               s.padding());
    dnnl::convolution_backward_weights::primitive_desc pd(d, default_attr(), cpu_engine(),
                                                          forward_pd(s));
    return CachedPrimitive{pd, dnnl::convolution_backward_weights(pd)};
  });
  Tensor src = in_layout(x, p.pd.src_desc());
  Tensor diff_dst = in_layout(grad_y, p.pd.diff_dst_desc());
  Tensor dw = empty_like_desc(p.pd.diff_weights_desc(), w_shape, DType::Float32);
  execute(p, {{DNNL_ARG_SRC, memory_of(src)},
              {DNNL_ARG_DIFF_DST, memory_of(diff_dst)},
              {DNNL_ARG_DIFF_WEIGHTS, memory_of(dw, p.pd.diff_weights_desc())}});
  return to_strided(dw);
}

}  // namespace sg
