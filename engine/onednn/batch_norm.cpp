// oneDNN batch normalisation, in whatever layout the input arrives (normally the blocked
// layout the preceding convolution chose). oneDNN returns the batch mean and biased variance;
// the running statistics are updated here, with the unbiased variance n/(n-1) as PyTorch does.
#include "engine/onednn/context.h"
#include "engine/onednn/onednn_backend.h"

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

Tensor channel_vector(int64_t c) { return Tensor::empty({c}, DType::Float32); }

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
  memory::desc d = desc_of(x);
  auto f = flags(gamma, beta, false, relu);
  const auto& p = cached_primitive(key("bn_fwd", d, f, eps), [&] {
    auto pd = forward_pd(d, f, eps, true);
    return CachedPrimitive{pd, dnnl::batch_normalization_forward(pd)};
  });
  int64_t C = x.shape()[1];
  BatchNormForward out{empty_same_layout(x), channel_vector(C), channel_vector(C), Tensor()};
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory_of(x)},
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

  double n = double(x.numel() / C);
  const float* mean = out.save_mean.data<float>();
  const float* var = out.save_var.data<float>();
  for (int64_t c = 0; c < C; ++c) {
    if (running_mean.defined()) {
      float& rm = running_mean.data<float>()[c * running_mean.strides()[0]];
      rm = float((1 - momentum) * rm + momentum * mean[c]);
    }
    if (running_var.defined()) {
      float& rv = running_var.data<float>()[c * running_var.strides()[0]];
      rv = float((1 - momentum) * rv + momentum * var[c] * n / (n - 1));
    }
  }
  return out;
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
  memory::desc d = desc_of(x);
  auto f = flags(gamma, beta, true, relu);
  const auto& p = cached_primitive(key("bn_infer", d, f, eps), [&] {
    auto pd = forward_pd(d, f, eps, false);
    return CachedPrimitive{pd, dnnl::batch_normalization_forward(pd)};
  });
  Tensor y = empty_same_layout(x);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory_of(x)},
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
  memory::desc d = desc_of(x);
  // Scale and shift go together in oneDNN's backward; an absent one is treated as present.
  auto f = flags(gamma, gamma, false, relu_mask.defined());
  const auto& p = cached_primitive(key("bn_bwd", d, f, eps), [&] {
    dnnl::batch_normalization_backward::primitive_desc pd(
        {gamma.defined() ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data, d, d,
         float(eps), f},
        default_attr(), cpu_engine(), forward_pd(d, f, eps, true));
    return CachedPrimitive{pd, dnnl::batch_normalization_backward(pd)};
  });
  Tensor g = in_layout(grad_y, d);
  int64_t C = x.shape()[1];
  BatchNormGrads out;
  out.dx = empty_same_layout(x);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory_of(x)},
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
