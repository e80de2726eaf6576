#pragma once
// The backward of an op whose output has just passed a ReLU (add_relu, batch_norm_add_relu):
// the incoming gradient is masked where y > 0 and handed on. A residual block's output feeds
// the next block's two branches, so its gradient arrives in two pieces: they are summed inside
// the ReLU's backward (relu_backward_of_sum), one pass over the activations instead of two.
#include <vector>

#include "autograd/node.h"
#include "engine/ops.h"

namespace sg::detail {

// Records `name` for y = relu(...) of `inputs`; from_masked(d, needs) turns the masked gradient
// d into the inputs' gradients.
inline Tensor record_relu_output(const char* name, const Tensor& y,
                                 const std::vector<Tensor>& inputs, BackwardFn from_masked) {
  SavedTensor sy(y);
  Tensor out = record(name, y, inputs,
                      [name, sy, from_masked](const Tensor& g, const std::vector<bool>& needs) {
                        return from_masked(engine::relu_backward(g, sy.get(name)), needs);
                      });
  if (out.grad_fn())
    out.grad_fn()->backward_of_sum = [name, sy, from_masked](const std::vector<Tensor>& pieces,
                                                             const std::vector<bool>& needs) {
      Tensor first = pieces[0];  // more than two pieces: all but the last summed first
      for (size_t i = 1; i + 1 < pieces.size(); ++i) first = engine::add(first, pieces[i]);
      return from_masked(engine::relu_backward_of_sum(first, pieces.back(), sy.get(name)), needs);
    };
  return out;
}

}  // namespace sg::detail
