// conv2d: forward, and its two backward kernels (data and weight); the bias gradient is the
// output gradient summed over batch and space.
#include "autograd/ops.h"
#include "engine/ops.h"

namespace sg {

namespace e = engine;

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Conv2dOptions o) {
  return record("conv2d", e::conv2d_forward(x, weight, bias, o), {x, weight, bias},
                [sx = SavedTensor(x), sw = SavedTensor(weight), o](const Tensor& g,
                                                                   const std::vector<bool>& needs) {
                  Tensor x = sx.get("conv2d"), w = sw.get("conv2d");
                  return Grads{needs[0] ? e::conv2d_backward_data(g, w, x.shape(), o) : Tensor(),
                               needs[1] ? e::conv2d_backward_weight(g, x, w.shape(), o) : Tensor(),
                               needs[2] ? e::sum(g, {0, 2, 3}) : Tensor()};
                });
}

}  // namespace sg
