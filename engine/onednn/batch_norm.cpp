// oneDNN batch normalisation, in whatever layout the input arrives (normally the layout the
// preceding convolution chose), except bf16 in training in NHWC or nChw16c, which runs our
// kernels (batch_norm_bf16.h) where the CPU has AVX-512 BF16. Both return the batch mean and
// biased variance; the running statistics are updated here, with the unbiased variance
// n/(n-1) as PyTorch does.
#include "engine/onednn/batch_norm_bf16.h"
#include "engine/onednn/context.h"
#include "engine/onednn/kernel_choice.h"
#include "engine/onednn/onednn_backend.h"

#include <optional>

namespace sg {

using namespace onednn;
using dnnl::memory;
using dnnl::normalization_flags;

namespace {

bool supported(const Tensor& x) {
  return (x.dtype() == DType::Float32 || x.dtype() == DType::BFloat16) &&
         (!x.is_strided() || x.is_contiguous());
}

normalization_flags flags(const Tensor& gamma, const Tensor& beta, bool global_stats, bool relu) {
  auto f = relu ? normalization_flags::fuse_norm_relu : normalization_flags::none;
  if (gamma.defined()) f |= normalization_flags::use_scale;
  if (beta.defined()) f |= normalization_flags::use_shift;
  if (global_stats) f |= normalization_flags::use_global_stats;
  return f;
}

std::string key(const char* op, const memory::desc& d, normalization_flags f, double eps) {
  return std::string(op) + "|" + desc_key(d) + "|" + std::to_string(int(f)) + "|" +
         std::to_string(eps);
}

dnnl::batch_normalization_forward::primitive_desc forward_pd(const memory::desc& d,
                                                             normalization_flags f, double eps,
                                                             bool training) {
  return dnnl::batch_normalization_forward::primitive_desc(
      {training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference, d,
       float(eps), f},
      default_attr(), cpu_engine());
}

// oneDNN 2.6 normalises a 2-D [N, C] tensor (the SSL heads' BatchNorm1d) with its generic
// kernel, `ncsp_bnorm`, which walks each channel down its column; the same bytes described as
// [N, C, 1, 1] in NHWC run its vectorised one.
memory::desc norm_desc(const Tensor& x) {
  if (x.dim() != 2) return desc_of(x);
  return memory::desc({x.shape()[0], x.shape()[1], 1, 1}, data_type(x.dtype()),
                      memory::format_tag::nhwc);
}

Tensor channel_vector(int64_t c) { return Tensor::empty({c}, DType::Float32); }

// Our kernels' ReLU mask: a layout of its own, so that backward can tell it from oneDNN's
// workspace and never hands one kernel family the other's mask.
class Bf16ReluBits final : public OpaqueLayout {
 public:
  explicit Bf16ReluBits(size_t bytes) : bytes_(bytes) {}
  size_t nbytes() const override { return bytes_; }
  std::string name() const override { return "stopgrad bf16 batch_norm ReLU bits"; }
  bool same_as(const OpaqueLayout& other) const override {
    const auto* bits = dynamic_cast<const Bf16ReluBits*>(&other);
    return bits && bits->bytes_ == bytes_;
  }

 private:
  size_t bytes_;
};

bool has_our_relu_bits(const Tensor& mask) {
  return mask.defined() && !mask.is_strided() &&
         dynamic_cast<const Bf16ReluBits*>(mask.layout().get()) != nullptr;
}

bool contiguous_or_undefined(const Tensor& t) { return !t.defined() || t.is_contiguous(); }

// bf16 in NHWC (acdb), as oneDNN's AMX convolutions hand it over, or in nChw16c, as the others
// and our Winograd kernels do, with channels our kernels take; the layout for them, if so.
std::optional<batch_norm_bf16::Layout> our_layout(const Tensor& x, const Tensor& gamma,
                                                  const Tensor& beta) {
  if (!kernel_choice().batch_norm_bf16 || x.dtype() != DType::BFloat16 || x.dim() != 4 ||
      !batch_norm_bf16::applies(x.shape()[1]) || !contiguous_or_undefined(gamma) ||
      !contiguous_or_undefined(beta))
    return std::nullopt;
  const Shape& s = x.shape();
  const memory::desc d = desc_of(x);
  const bool blocked = d == nchw16c_bf16(s);
  if (!blocked && d != nhwc_bf16(s)) return std::nullopt;
  return batch_norm_bf16::Layout{s[0], s[2] * s[3], s[1], blocked};
}

const uint16_t* bf16_bits(const Tensor& t) { return static_cast<const uint16_t*>(t.raw_data()); }
const float* floats_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

// With a residual (x's layout), y = max(bn(x) + residual, 0) and no mask (batch_norm_add_relu).
BatchNormForward our_forward_train(const Tensor& x, const batch_norm_bf16::Layout& layout,
                                   const Tensor& gamma, const Tensor& beta, double eps, bool relu,
                                   const Tensor& residual = Tensor()) {
  BatchNormForward out{empty_same_layout(x), channel_vector(layout.channels),
                       channel_vector(layout.channels), Tensor()};
  if (relu && !residual.defined())
    out.relu_mask = Tensor::empty_opaque(
        x.shape(), DType::Float32, Device::cpu(),
        std::make_shared<Bf16ReluBits>(size_t(batch_norm_bf16::relu_mask_bytes(layout))));
  batch_norm_bf16::forward_train(
      bf16_bits(x), layout, floats_or_null(gamma), floats_or_null(beta), eps,
      residual.defined() ? bf16_bits(residual) : nullptr, static_cast<uint16_t*>(out.y.raw_data()),
      out.relu_mask.defined() ? static_cast<uint16_t*>(out.relu_mask.raw_data()) : nullptr,
      out.save_mean.data<float>(), out.save_var.data<float>());
  return out;
}

BatchNormGrads our_backward(const Tensor& grad_y, const Tensor& x,
                            const batch_norm_bf16::Layout& layout, const Tensor& gamma,
                            const Tensor& save_mean, const Tensor& save_var, double eps,
                            const Tensor& relu_mask) {
  Tensor g = in_layout(grad_y, desc_of(x));
  BatchNormGrads out;
  out.dx = empty_same_layout(x);
  if (gamma.defined()) {
    out.dgamma = channel_vector(layout.channels);
    out.dbeta = channel_vector(layout.channels);
  }
  batch_norm_bf16::backward(
      bf16_bits(x), bf16_bits(g),
      relu_mask.defined() ? static_cast<const uint16_t*>(relu_mask.raw_data()) : nullptr, layout,
      floats_or_null(gamma), save_mean.data<float>(), save_var.data<float>(), eps,
      static_cast<uint16_t*>(out.dx.raw_data()),
      gamma.defined() ? out.dgamma.data<float>() : nullptr,
      gamma.defined() ? out.dbeta.data<float>() : nullptr);
  return out;
}

void update_running_stats(const BatchNormForward& out, int64_t n, const Tensor& running_mean,
                          const Tensor& running_var, double momentum) {
  const float* mean = out.save_mean.data<float>();
  const float* var = out.save_var.data<float>();
  for (int64_t c = 0; c < out.save_mean.numel(); ++c) {
    if (running_mean.defined()) {
      float& rm = running_mean.data<float>()[c * running_mean.strides()[0]];
      rm = float((1 - momentum) * rm + momentum * mean[c]);
    }
    if (running_var.defined()) {
      float& rv = running_var.data<float>()[c * running_var.strides()[0]];
      rv = float((1 - momentum) * rv + momentum * var[c] * double(n) / double(n - 1));
    }
  }
}

}  // namespace

BatchNormForward OneDnnBackend::batch_norm_forward_train(const Tensor& x, const Tensor& gamma,
                                                         const Tensor& beta,
                                                         const Tensor& running_mean,
                                                         const Tensor& running_var, double momentum,
                                                         double eps, bool relu) {
  if (!supported(x))
    return ReferenceBackend::batch_norm_forward_train(to_strided(x), gamma, beta, running_mean,
                                                      running_var, momentum, eps, relu);
  if (emulate_bf16(x)) {
    BatchNormForward out = batch_norm_forward_train(widened(x), gamma, beta, running_mean,
                                                    running_var, momentum, eps, relu);
    out.y = narrowed(out.y);  // the ReLU mask stays the float32 primitive's, as backward widens
    return out;
  }
  if (auto layout = our_layout(x, gamma, beta)) {
    BatchNormForward out = our_forward_train(x, *layout, gamma, beta, eps, relu);
    update_running_stats(out, x.numel() / x.shape()[1], running_mean, running_var, momentum);
    return out;
  }
  memory::desc d = norm_desc(x);
  auto f = flags(gamma, beta, false, relu);
  const auto& p = cached_primitive(key("bn_fwd", d, f, eps), [&] {
    auto pd = forward_pd(d, f, eps, true);
    return CachedPrimitive{pd, dnnl::batch_normalization_forward(pd)};
  });
  int64_t C = x.shape()[1];
  BatchNormForward out{empty_same_layout(x), channel_vector(C), channel_vector(C), Tensor()};
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory_of(x, d)},
                                       {DNNL_ARG_DST, memory_of(out.y, d)},
                                       {DNNL_ARG_MEAN, memory_of(out.save_mean)},
                                       {DNNL_ARG_VARIANCE, memory_of(out.save_var)}};
  if (gamma.defined()) args.emplace(DNNL_ARG_SCALE, memory_of(gamma));
  if (beta.defined()) args.emplace(DNNL_ARG_SHIFT, memory_of(beta));
  if (relu) {  // oneDNN's bit mask of where the ReLU passed
    memory::desc ws = p.pd.workspace_desc();
    out.relu_mask = Tensor::empty_opaque(x.shape(), DType::Float32, Device::cpu(),
                                         std::make_shared<BlockedLayout>(ws));
    args.emplace(DNNL_ARG_WORKSPACE, memory(ws, cpu_engine(), out.relu_mask.raw_data()));
  }
  execute(p, args);
  update_running_stats(out, x.numel() / C, running_mean, running_var, momentum);
  return out;
}

bool onednn::batch_norm_add_relu_fuses(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                       const Tensor& beta) {
  return supported(x) && !emulate_bf16(x) && our_layout(x, gamma, beta) &&
         residual.dtype() == DType::BFloat16 && residual.shape() == x.shape();
}

BatchNormForward OneDnnBackend::batch_norm_add_relu_forward_train(
    const Tensor& x, const Tensor& residual, const Tensor& gamma, const Tensor& beta,
    const Tensor& running_mean, const Tensor& running_var, double momentum, double eps) {
  // The join in BatchNorm's normalising pass where our kernels run: one pass over the
  // activations less than batch_norm then add_relu, the same bits.
  if (onednn::batch_norm_add_relu_fuses(x, residual, gamma, beta)) {
    BatchNormForward out = our_forward_train(x, *our_layout(x, gamma, beta), gamma, beta, eps, true,
                                             in_layout(residual, desc_of(x)));
    update_running_stats(out, x.numel() / x.shape()[1], running_mean, running_var, momentum);
    return out;
  }
  return Backend::batch_norm_add_relu_forward_train(x, residual, gamma, beta, running_mean,
                                                    running_var, momentum, eps);
}

Tensor OneDnnBackend::batch_norm_forward_infer(const Tensor& x, const Tensor& gamma,
                                               const Tensor& beta, const Tensor& running_mean,
                                               const Tensor& running_var, double eps, bool relu) {
  if (!supported(x) || !running_mean.is_contiguous() || !running_var.is_contiguous())
    return ReferenceBackend::batch_norm_forward_infer(to_strided(x), gamma, beta, running_mean,
                                                      running_var, eps, relu);
  if (emulate_bf16(x))
    return narrowed(
        batch_norm_forward_infer(widened(x), gamma, beta, running_mean, running_var, eps, relu));
  memory::desc d = norm_desc(x);
  auto f = flags(gamma, beta, true, relu);
  const auto& p = cached_primitive(key("bn_infer", d, f, eps), [&] {
    auto pd = forward_pd(d, f, eps, false);
    return CachedPrimitive{pd, dnnl::batch_normalization_forward(pd)};
  });
  Tensor y = empty_same_layout(x);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory_of(x, d)},
                                       {DNNL_ARG_DST, memory_of(y, d)},
                                       {DNNL_ARG_MEAN, memory_of(running_mean)},
                                       {DNNL_ARG_VARIANCE, memory_of(running_var)}};
  if (gamma.defined()) args.emplace(DNNL_ARG_SCALE, memory_of(gamma));
  if (beta.defined()) args.emplace(DNNL_ARG_SHIFT, memory_of(beta));
  execute(p, args);
  return y;
}

BatchNormGrads OneDnnBackend::batch_norm_backward(const Tensor& grad_y, const Tensor& x,
                                                  const Tensor& gamma, const Tensor& save_mean,
                                                  const Tensor& save_var, double eps,
                                                  const Tensor& relu_mask) {
  if (!supported(x) || (relu_mask.defined() && relu_mask.is_strided()))
    return ReferenceBackend::batch_norm_backward(
        to_strided(grad_y), to_strided(x), gamma, save_mean, save_var, eps,
        relu_mask.defined() ? to_strided(relu_mask) : Tensor());
  if (emulate_bf16(x) || emulate_bf16(grad_y)) {
    BatchNormGrads out = batch_norm_backward(widened(grad_y), widened(x), gamma, save_mean,
                                             save_var, eps, relu_mask);
    if (x.dtype() == DType::BFloat16) out.dx = narrowed(out.dx);
    return out;
  }
  const auto layout = our_layout(x, gamma, Tensor());
  if (has_our_relu_bits(relu_mask) || (!relu_mask.defined() && layout)) {
    SG_CHECK(layout.has_value(), "batch_norm_backward: x ", shape_str(x.shape()),
             " is not bf16 in NHWC or nChw16c, but its ReLU mask is stopgrad's bf16 kernels'");
    return our_backward(grad_y, x, *layout, gamma, save_mean, save_var, eps, relu_mask);
  }
  memory::desc d = norm_desc(x);
  // Scale and shift go together in oneDNN's backward; an absent one is treated as present.
  auto f = flags(gamma, gamma, false, relu_mask.defined());
  const auto& p = cached_primitive(key("bn_bwd", d, f, eps), [&] {
    dnnl::batch_normalization_backward::primitive_desc pd(
        {gamma.defined() ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data, d, d,
         float(eps), f},
        default_attr(), cpu_engine(), forward_pd(d, f, eps, true));
    return CachedPrimitive{pd, dnnl::batch_normalization_backward(pd)};
  });
  Tensor g = in_layout(grad_y, desc_of(x));  // x's bytes, which d describes
  int64_t C = x.shape()[1];
  BatchNormGrads out;
  out.dx = empty_same_layout(x);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory_of(x, d)},
                                       {DNNL_ARG_DIFF_DST, memory_of(g, d)},
                                       {DNNL_ARG_MEAN, memory_of(save_mean)},
                                       {DNNL_ARG_VARIANCE, memory_of(save_var)},
                                       {DNNL_ARG_DIFF_SRC, memory_of(out.dx, d)}};
  if (relu_mask.defined())
    args.emplace(DNNL_ARG_WORKSPACE,
                 memory(p.pd.workspace_desc(), cpu_engine(), relu_mask.raw_data()));
  Tensor shift;  // outlives execute(): oneDNN reads it there
  if (gamma.defined()) {
    out.dgamma = channel_vector(C);
    out.dbeta = channel_vector(C);
    args.emplace(DNNL_ARG_SCALE, memory_of(gamma));
    // oneDNN 2.6 asks for the shift although no gradient depends on its value.
    shift = Tensor::zeros({C});
    args.emplace(DNNL_ARG_SHIFT, memory_of(shift));
    args.emplace(DNNL_ARG_DIFF_SCALE, memory_of(out.dgamma));
    args.emplace(DNNL_ARG_DIFF_SHIFT, memory_of(out.dbeta));
  }
  execute(p, args);
  return out;
}

}  // namespace sg
