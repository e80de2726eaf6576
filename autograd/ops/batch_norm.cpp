// Batch normalisation. In training the batch statistics depend on x, so dx comes from the
// batch_norm_backward kernel; in evaluation the statistics are constants and y is affine in x.
#include <cmath>

#include "autograd/ops.h"
#include "autograd/ops/per_channel.h"
#include "autograd/ops/relu_output.h"
#include "engine/ops.h"

namespace sg {

namespace e = engine;
using detail::non_channel_dims;
using detail::per_channel;

namespace {
// batch_norm and batch_norm_relu: one forward/backward pair, the ReLU optional.
Tensor batch_norm_op(const char* name, const Tensor& x, const Tensor& weight, const Tensor& bias,
                     const Tensor& running_mean, const Tensor& running_var, bool training,
                     double momentum, double eps, bool relu) {
  if (training) {
    BatchNormForward f = e::batch_norm_forward_train(x, weight, bias, running_mean, running_var,
                                                     momentum, eps, relu);
    // With the ReLU, backward needs where y > 0: the reference and CUDA kernels read it from y
    // itself, oneDNN from its own mask. Both are saved (version-checked), so an in-place write
    // to y before backward is an error on every backend, as for relu.
    return record(
        name, f.y, {x, weight, bias},
        [sx = SavedTensor(x), sw = SavedTensor(weight), mean = f.save_mean, var = f.save_var,
         mask = SavedTensor(f.relu_mask), sy = relu ? SavedTensor(f.y) : SavedTensor(), relu, eps,
         name](const Tensor& g, const std::vector<bool>& needs) {
          if (relu) sy.get(name);  // the version check alone
          BatchNormGrads b =
              e::batch_norm_backward(g, sx.get(name), sw.get(name), mean, var, eps, mask.get(name));
          return Grads{needs[0] ? b.dx : Tensor(), needs[1] ? b.dgamma : Tensor(),
                       needs[2] ? b.dbeta : Tensor()};
        });
  }
  Tensor y = e::batch_norm_forward_infer(x, weight, bias, running_mean, running_var, eps, relu);
  if (!should_record({x, weight, bias})) return y;  // evaluation: nothing to prepare for backward
  // invstd and the mean are copied now: the running statistics may change before backward.
  Tensor invstd = e::pow(e::add(running_var, eps), -0.5);
  return record(name, y, {x, weight, bias},
                [sx = SavedTensor(x), sw = SavedTensor(weight), sy = SavedTensor(y),
                 mean = e::clone(running_mean), invstd, relu,
                 name](const Tensor& g_in, const std::vector<bool>& needs) {
                  Tensor x = sx.get(name), w = sw.get(name);
                  Tensor g = relu ? e::relu_backward(g_in, sy.get(name)) : g_in;
                  Tensor scale = w.defined() ? e::mul(invstd, w) : invstd;
                  Tensor gx, gw, gb;
                  if (needs[0]) gx = e::mul(g, per_channel(scale, x));
                  if (needs[1]) {
                    Tensor xhat = e::mul(e::sub(x, per_channel(mean, x)), per_channel(invstd, x));
                    gw = e::sum(e::mul(g, xhat), non_channel_dims(x));
                  }
                  if (needs[2]) gb = e::sum(g, non_channel_dims(x));
                  return Grads{gx, gw, gb};
                });
}
}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum, double eps) {
  return batch_norm_op("batch_norm", x, weight, bias, running_mean, running_var, training, momentum,
                       eps, false);
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, bool training,
                       double momentum, double eps) {
  return batch_norm_op("batch_norm_relu", x, weight, bias, running_mean, running_var, training,
                       momentum, eps, true);
}

// In training the gradient of the sum, masked where y > 0, goes to the residual as it is and
// through batch_norm's backward to x, gamma and beta. Like add_relu's it may arrive in pieces
// (a block's output feeds the next block's two branches), summed inside the ReLU's backward.
// In evaluation it is add_relu on batch_norm (nothing to fuse for speed there).
Tensor batch_norm_add_relu(const Tensor& x, const Tensor& residual, const Tensor& weight,
                           const Tensor& bias, const Tensor& running_mean,
                           const Tensor& running_var, bool training, double momentum, double eps) {
  if (!training)
    return add_relu(batch_norm(x, weight, bias, running_mean, running_var, false, momentum, eps),
                    residual);
  static constexpr const char* name = "batch_norm_add_relu";
  BatchNormForward f = e::batch_norm_add_relu_forward_train(x, residual, weight, bias, running_mean,
                                                            running_var, momentum, eps);
  auto from_masked = [sx = SavedTensor(x), sw = SavedTensor(weight), mean = f.save_mean,
                      var = f.save_var, eps](const Tensor& d, const std::vector<bool>& needs) {
    Grads out{Tensor(), Tensor(), Tensor(), needs[3] ? d : Tensor()};
    if (needs[0] || needs[1] || needs[2]) {
      BatchNormGrads b = e::batch_norm_backward(d, sx.get(name), sw.get(name), mean, var, eps);
      out[0] = needs[0] ? b.dx : Tensor();
      out[1] = needs[1] ? b.dgamma : Tensor();
      out[2] = needs[2] ? b.dbeta : Tensor();
    }
    return out;
  };
  return detail::record_relu_output(name, f.y, {x, weight, bias, residual}, from_masked);
}

}  // namespace sg
