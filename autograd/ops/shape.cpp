// Views, copies and joins. Views pass the gradient back through the inverse view; cat and
// stack cut it into the pieces that came in.
#include "autograd/ops.h"
#include "engine/ops.h"

namespace sg {

namespace e = engine;

Tensor reshape(const Tensor& x, const Shape& shape) {
  return record("reshape", e::reshape(x, shape), {x},
                [xs = x.shape()](const Tensor& g, const std::vector<bool>&) {
                  return Grads{e::reshape(g, xs)};
                });
}

Tensor view(const Tensor& x, const Shape& shape) {
  return record("view", e::view(x, shape), {x},
                [xs = x.shape()](const Tensor& g, const std::vector<bool>&) {
                  return Grads{e::reshape(g, xs)};
                });
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  return reshape(x, e::flatten(x, start_dim, end_dim).shape());
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inverse[wrap_dim(dims[i], x.dim())] = int64_t(i);
  return record("permute", e::permute(x, dims), {x},
                [inverse](const Tensor& g, const std::vector<bool>&) {
                  return Grads{e::permute(g, inverse)};
                });
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  return permute(x, e::transpose_dims(x.dim(), dim0, dim1));
}

// The gradient of a slice is zero outside it.
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  return record("slice", e::slice(x, dim, start, end, step), {x},
                [xs = x.shape(), dim, start, end, step](const Tensor& g, const std::vector<bool>&) {
                  Tensor gx = Tensor::zeros(xs, g.dtype(), g.device());
                  e::copy_(e::slice(gx, dim, start, end, step), g);
                  return Grads{gx};
                });
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  e::narrow(x, dim, start, length);  // validates the range with narrow's own message
  return slice(x, dim, start, start + length);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  return record("expand", e::expand(x, shape), {x},
                [xs = x.shape()](const Tensor& g, const std::vector<bool>&) {
                  return Grads{e::sum_to(g, xs)};
                });
}

Tensor unsqueeze(const Tensor& x, int64_t dim) { return reshape(x, e::unsqueeze(x, dim).shape()); }
Tensor squeeze(const Tensor& x, int64_t dim) { return reshape(x, e::squeeze(x, dim).shape()); }

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  return clone(x);
}

Tensor clone(const Tensor& x) {
  return record("clone", e::clone(x), {x},
                [](const Tensor& g, const std::vector<bool>&) { return Grads{g}; });
}

Tensor to(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  return record("to", e::to(x, dtype), {x},
                [from = x.dtype()](const Tensor& g, const std::vector<bool>&) {
                  return Grads{e::to(g, from)};
                });
}

// The gradient is cut into the pieces that came in.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor y = e::cat(tensors, dim);
  int64_t d = wrap_dim(dim, y.dim());
  std::vector<int64_t> lengths;
  for (const auto& t : tensors) lengths.push_back(t.shape()[d]);
  return record("cat", y, tensors, [d, lengths](const Tensor& g, const std::vector<bool>& needs) {
    Grads grads(lengths.size());
    int64_t start = 0;
    for (size_t i = 0; i < lengths.size(); start += lengths[i++])
      if (needs[i]) grads[i] = e::narrow(g, d, start, lengths[i]);
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  std::vector<Tensor> pieces;
  for (const auto& t : tensors) pieces.push_back(unsqueeze(t, dim));
  return cat(pieces, dim);
}

Tensor detach(const Tensor& x) {
  Tensor out = x.detach();
  // Remember where the graph was cut, for drawing it (autograd/graph_dot.h); backward ignores it.
  if (x.grad_fn()) out.set_detached_from(x.grad_fn());
  return out;
}

}  // namespace sg
