#include "layers/layers.h"

#include <cmath>

namespace sg {

Linear::Linear(int64_t in, int64_t out, Generator& gen, bool with_bias) {
  weight = register_parameter("weight", kaiming_uniform({out, in}, gen));
  double bound = 1.0 / std::sqrt(double(in));
  if (with_bias) bias = register_parameter("bias", uniform({out}, -bound, bound, gen));
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

Tensor Linear::forward(const Tensor& x, DType products) {
  return linear(x, weight, bias, products);
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, Generator& gen, int64_t stride,
               int64_t padding, bool with_bias)
    : options{stride, padding} {
  weight = register_parameter("weight", kaiming_uniform({out, in, kernel, kernel}, gen));
  double bound = 1.0 / std::sqrt(double(in * kernel * kernel));
  if (with_bias) bias = register_parameter("bias", uniform({out}, -bound, bound, gen));
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, options); }

BatchNorm::BatchNorm(int64_t channels, int expected_rank, double momentum, double eps, bool affine)
    : momentum(momentum), eps(eps), expected_rank_(expected_rank) {
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({channels}));
    bias = register_parameter("bias", Tensor::zeros({channels}));
  }
  running_mean = register_buffer("running_mean", Tensor::zeros({channels}));
  running_var = register_buffer("running_var", Tensor::ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64));
}

Tensor BatchNorm::forward(const Tensor& x) { return run(x, false); }
Tensor BatchNorm::forward_relu(const Tensor& x) { return run(x, true); }
Tensor BatchNorm::forward_add_relu(const Tensor& x, const Tensor& residual) {
  return run(x, true, residual);
}

// With a residual: relu(batch_norm(x) + residual).
Tensor BatchNorm::run(const Tensor& x, bool relu, const Tensor& residual) {
  SG_CHECK(x.dim() == expected_rank_, "BatchNorm", expected_rank_ == 2 ? "1d" : "2d",
           ": expected a rank-", expected_rank_, " input, got ", shape_str(x.shape()));
  if (is_training()) {
    NoGradGuard no_grad;
    engine::add_(num_batches_tracked,
                 Tensor::scalar(1, DType::Int64, num_batches_tracked.device()));
  }
  if (is_training() && sync_group && sync_group->size() > 1) {
    if (residual.defined())
      return add_relu(
          sync_batch_norm(x, weight, bias, running_mean, running_var, *sync_group, momentum, eps),
          residual);
    return sync_batch_norm(x, weight, bias, running_mean, running_var, *sync_group, momentum, eps,
                           relu);
  }
  if (residual.defined())
    return batch_norm_add_relu(x, residual, weight, bias, running_mean, running_var, is_training(),
                               momentum, eps);
  return relu
             ? batch_norm_relu(x, weight, bias, running_mean, running_var, is_training(), momentum,
                               eps)
             : batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

void Sequential::push_back(std::shared_ptr<Module> m) {
  register_module(std::to_string(size()), std::move(m));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& [name, m] : children()) h = m->forward(h);
  return h;
}

}  // namespace sg
