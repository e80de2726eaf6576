// Reductions. Backward broadcasts the output gradient back over the reduced dimensions.
#include <algorithm>

#include "autograd/ops.h"
#include "engine/ops.h"

namespace sg {

namespace e = engine;

namespace {
std::vector<int64_t> wrap_dims(std::vector<int64_t> dims, int64_t rank) {
  for (auto& d : dims) d = wrap_dim(d, rank);
  std::sort(dims.begin(), dims.end());
  return dims;
}

// The shape of the reduction's output with keepdim = true.
Shape kept_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out = shape;
  for (int64_t d : dims) out[d] = 1;
  return out;
}

// Spreads a gradient of the reduced shape over the input shape.
Tensor unreduce(const Tensor& g, const Shape& x_shape, const std::vector<int64_t>& dims) {
  return e::expand(e::reshape(g, kept_shape(x_shape, dims)), x_shape);
}

std::vector<int64_t> all_dims(const Tensor& x) {
  std::vector<int64_t> dims(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) dims[i] = i;
  return dims;
}
}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  auto dims = wrap_dims(dims_in, x.dim());
  return record("sum", e::sum(x, dims, keepdim), {x},
                [xs = x.shape(), dims](const Tensor& g, const std::vector<bool>&) {
                  return Grads{unreduce(g, xs, dims)};
                });
}

Tensor sum(const Tensor& x) { return sum(x, all_dims(x)); }

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  auto dims = wrap_dims(dims_in, x.dim());
  int64_t count = 1;
  for (int64_t d : dims) count *= x.shape()[d];
  return record("mean", e::mean(x, dims, keepdim), {x},
                [xs = x.shape(), dims, count](const Tensor& g, const std::vector<bool>&) {
                  return Grads{unreduce(e::mul(g, 1.0 / double(count)), xs, dims)};
                });
}

Tensor mean(const Tensor& x) { return mean(x, all_dims(x)); }

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  auto dims = wrap_dims(dims_in, x.dim());
  Tensor y = e::amax(x, dims, keepdim);
  return record(
      "amax", y, {x},
      [sx = SavedTensor(x), sy = SavedTensor(y), dims](const Tensor& g, const std::vector<bool>&) {
        Tensor x = sx.get("amax");
        Tensor is_max = e::eq(x, unreduce(sy.get("amax"), x.shape(), dims));
        Tensor ties = e::sum(is_max, dims, /*keepdim=*/true);
        Tensor share = e::div(e::reshape(g, kept_shape(x.shape(), dims)), ties);
        return Grads{e::mul(is_max, share)};
      });
}

}  // namespace sg
