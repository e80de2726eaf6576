// Pooling. Max pooling routes the gradient to the saved argmax positions; average pooling
// spreads it over each window; global average pooling is a mean over space.
#include "autograd/ops.h"
#include "engine/ops.h"

namespace sg {

namespace e = engine;

Tensor max_pool2d(const Tensor& x, Pool2dOptions o) {
  MaxPool2dForward f = e::max_pool2d_forward(x, o);
  return record(
      "max_pool2d", f.y, {x},
      [xs = x.shape(), indices = f.indices, o](const Tensor& g, const std::vector<bool>&) {
        return Grads{e::max_pool2d_backward(g, indices, xs, o)};
      });
}

Tensor avg_pool2d(const Tensor& x, Pool2dOptions o) {
  return record("avg_pool2d", e::avg_pool2d_forward(x, o), {x},
                [xs = x.shape(), o](const Tensor& g, const std::vector<bool>&) {
                  return Grads{e::avg_pool2d_backward(g, xs, o)};
                });
}

Tensor adaptive_avg_pool2d(const Tensor& x) {
  SG_CHECK(x.dim() == 4, "adaptive_avg_pool2d: input must be [N,C,H,W], got ",
           shape_str(x.shape()));
  return mean(x, {2, 3}, /*keepdim=*/true);
}

}  // namespace sg
