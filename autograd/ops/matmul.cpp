// Matrix products. For C = A B:  dA = dC B^T,  dB = A^T dC.
#include "autograd/ops.h"
#include "engine/ops.h"

namespace sg {

namespace e = engine;

namespace {
Tensor mT(const Tensor& t) { return e::transpose(t, -2, -1); }
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  return record(
      "matmul", e::matmul(a, b), {a, b},
      [sa = SavedTensor(a), sb = SavedTensor(b)](const Tensor& g, const std::vector<bool>& needs) {
        return Grads{needs[0] ? e::matmul(g, mT(sb.get("matmul"))) : Tensor(),
                     needs[1] ? e::matmul(mT(sa.get("matmul")), g) : Tensor()};
      });
}

// y = x W^T + b:  dx = dy W,  dW = dy^T x,  db = sum over the batch of dy.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  SG_CHECK(x.dim() == 2 && weight.dim() == 2 && x.shape()[1] == weight.shape()[1], "linear: input ",
           shape_str(x.shape()), " does not match weight ", shape_str(weight.shape()),
           " (expected [N, ", weight.dim() == 2 ? weight.shape()[1] : -1, "])");
  Tensor y = e::matmul(x, mT(weight));
  if (bias.defined()) {
    SG_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], "linear: bias ",
             shape_str(bias.shape()), " does not match weight ", shape_str(weight.shape()));
    e::add_(y, bias);
  }
  return record("linear", y, {x, weight, bias},
                [sx = SavedTensor(x), sw = SavedTensor(weight)](const Tensor& g,
                                                                const std::vector<bool>& needs) {
                  return Grads{needs[0] ? e::matmul(g, sw.get("linear")) : Tensor(),
                               needs[1] ? e::matmul(mT(g), sx.get("linear")) : Tensor(),
                               needs[2] ? e::sum(g, {0}) : Tensor()};
                });
}

// Made of the ops above, so each rounding has its gradient rule: `to`'s backward rounds the
// incoming dy to bf16 before the products and widens their results back. The weight's rounding
// is the engine's per weight version (weight_to: once per optimizer step, not once per view),
// with `to`'s gradient rule.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, DType products) {
  if (x.dtype() == products && weight.dtype() == products) return linear(x, weight, bias);
  Tensor w = weight.dtype() == products
                 ? weight
                 : record("to", e::weight_to(weight, products), {weight},
                          [from = weight.dtype()](const Tensor& g, const std::vector<bool>&) {
                            return Grads{e::to(g, from)};
                          });
  Tensor y = to(linear(to(x, products), w), x.dtype());
  return bias.defined() ? add(y, bias) : y;
}

}  // namespace sg
