// Indexing. The index tensors are saved version-checked like any other: an index rewritten in
// place before backward would route gradients to the wrong rows. gather and scatter_add are each
// other's adjoints; index_select's backward is a scatter_add of the gradient back to the rows it
// came from.
#include "autograd/ops.h"
#include "engine/ops.h"

namespace sg {

namespace e = engine;

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  int64_t d = wrap_dim(dim, x.dim());
  return record(
      "index_select", e::index_select(x, d, index), {x},
      [xs = x.shape(), d, saved = SavedTensor(index)](const Tensor& g, const std::vector<bool>&) {
        Tensor index = saved.get("index_select");
        // Broadcast the 1-D index over g's shape so scatter_add can route each element.
        Shape along(g.dim(), 1);
        along[d] = index.numel();
        Tensor full_index = e::contiguous(e::expand(e::reshape(index, along), g.shape()));
        Tensor zeros = Tensor::zeros(xs, g.dtype(), g.device());
        return Grads{e::scatter_add(zeros, d, full_index, g)};
      });
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  int64_t d = wrap_dim(dim, x.dim());
  return record(
      "gather", e::gather(x, d, index), {x},
      [xs = x.shape(), d, saved = SavedTensor(index)](const Tensor& g, const std::vector<bool>&) {
        return Grads{
            e::scatter_add(Tensor::zeros(xs, g.dtype(), g.device()), d, saved.get("gather"), g)};
      });
}

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  int64_t d = wrap_dim(dim, self.dim());
  return record("scatter_add", e::scatter_add(self, d, index, src), {self, src},
                [d, saved = SavedTensor(index)](const Tensor& g, const std::vector<bool>& needs) {
                  return Grads{needs[0] ? g : Tensor(),
                               needs[1] ? e::gather(g, d, saved.get("scatter_add")) : Tensor()};
                });
}

// Composite: positions of the set mask elements, then index_select on the flattened input.
Tensor masked_select(const Tensor& x, const Tensor& mask) {
  Tensor full_mask = e::expand(mask, x.shape());
  std::vector<double> flags = full_mask.to_vector();
  std::vector<double> positions;
  for (size_t i = 0; i < flags.size(); ++i)
    if (flags[i] != 0) positions.push_back(double(i));
  Tensor index = Tensor::from_vector(positions, {int64_t(positions.size())}, DType::Int64);
  return index_select(reshape(x, {-1}), 0, e::to(index, x.device()));
}

}  // namespace sg
