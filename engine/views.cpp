// View operations: each computes a new shape/strides/offset over the same storage.
#include <algorithm>
#include <numeric>
#include <optional>

#include "engine/ops.h"

namespace sg::engine {

Shape infer_shape(Shape shape, int64_t total) {
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      SG_CHECK(infer_at < 0, "shape ", shape_str(shape), " has more than one -1");
      infer_at = static_cast<int64_t>(i);
    } else {
      SG_CHECK(shape[i] >= 0, "invalid dimension ", shape[i], " in shape ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    SG_CHECK(known > 0 && total % known == 0, "shape ", shape_str(shape),
             " does not fit a tensor of ", total, " elements");
    shape[infer_at] = total / known;
  }
  SG_CHECK(numel(shape) == total, "shape ", shape_str(shape), " is invalid for a tensor of ", total,
           " elements");
  return shape;
}

namespace {
// Strides that let `new_shape` view memory laid out as (shape, strides), if any exist: each run
// of dimensions that is contiguous in memory may be split or merged freely.
std::optional<Strides> view_strides(const Shape& shape, const Strides& strides,
                                    const Shape& new_shape) {
  if (shape.empty() || numel(shape) == 0) return contiguous_strides(new_shape);
  Strides out(new_shape.size());
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    bool chunk_ends =
        d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
      out[view_d] = view_numel * chunk_base_stride;
      view_numel *= new_shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) {
      chunk_base_stride = strides[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}
}  // namespace

Tensor view(const Tensor& input, Shape shape) {
  const Tensor x = to_strided(input);
  shape = infer_shape(std::move(shape), x.numel());
  auto strides = view_strides(x.shape(), x.strides(), shape);
  SG_CHECK(strides.has_value(), "view ", shape_str(shape), " of a tensor with shape ",
           shape_str(x.shape()), " and strides ", shape_str(x.strides()),
           " is impossible without a copy: use reshape");
  return x.as_strided(shape, *strides, x.offset());
}

Tensor reshape(const Tensor& input, Shape shape) {
  const Tensor x = to_strided(input);
  shape = infer_shape(std::move(shape), x.numel());
  if (auto strides = view_strides(x.shape(), x.strides(), shape))
    return x.as_strided(shape, *strides, x.offset());
  return view(contiguous(x), shape);
}

Tensor permute(const Tensor& input, const std::vector<int64_t>& dims) {
  const Tensor x = to_strided(input);
  SG_CHECK(static_cast<int64_t>(dims.size()) == x.dim(), "permute: ", dims.size(),
           " dimensions given for a tensor of rank ", x.dim());
  Shape shape(dims.size());
  Strides strides(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], x.dim());
    SG_CHECK(!seen[d], "permute: dimension ", d, " repeated");
    seen[d] = true;
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
  }
  return x.as_strided(shape, strides, x.offset());
}

std::vector<int64_t> transpose_dims(int64_t rank, int64_t dim0, int64_t dim1) {
  std::vector<int64_t> dims(rank);
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(dim0, rank)], dims[wrap_dim(dim1, rank)]);
  return dims;
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  return permute(x, transpose_dims(x.dim(), dim0, dim1));
}

Tensor slice(const Tensor& input, int64_t dim, int64_t start, int64_t end, int64_t step) {
  const Tensor x = to_strided(input);
  dim = wrap_dim(dim, x.dim());
  int64_t n = x.shape()[dim];
  SG_CHECK(step > 0, "slice: step must be positive, got ", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape shape = x.shape();
  Strides strides = x.strides();
  shape[dim] = (end - start + step - 1) / step;
  strides[dim] *= step;
  return x.as_strided(shape, strides, x.offset() + start * x.strides()[dim]);
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  dim = wrap_dim(dim, x.dim());
  SG_CHECK(start >= 0 && length >= 0 && start + length <= x.shape()[dim], "narrow: [", start, ", ",
           start + length, ") is outside dimension ", dim, " of size ", x.shape()[dim]);
  return slice(x, dim, start, start + length);
}

Tensor expand(const Tensor& input, const Shape& shape) {
  const Tensor x = to_strided(input);
  SG_CHECK(shape.size() >= x.shape().size(), "expand: cannot expand ", shape_str(x.shape()), " to ",
           shape_str(shape));
  size_t lead = shape.size() - x.shape().size();
  Strides strides(shape.size(), 0);
  Shape out = shape;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      SG_CHECK(shape[i] >= 0, "expand: -1 is not allowed in new leading dimension ", i);
      continue;
    }
    int64_t have = x.shape()[i - lead];
    if (shape[i] == -1) out[i] = have;
    SG_CHECK(have == out[i] || have == 1, "expand: cannot expand ", shape_str(x.shape()), " to ",
             shape_str(shape), " (dimension ", i, ")");
    strides[i] = have == out[i] ? x.strides()[i - lead] : 0;
  }
  return x.as_strided(out, strides, x.offset());
}

Tensor unsqueeze(const Tensor& input, int64_t dim) {
  const Tensor x = to_strided(input);
  dim = wrap_dim(dim, x.dim() + 1);
  Shape shape = x.shape();
  Strides strides = x.strides();
  int64_t stride = dim < x.dim() ? x.strides()[dim] * x.shape()[dim] : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, stride);
  return x.as_strided(shape, strides, x.offset());
}

Tensor squeeze(const Tensor& input, int64_t dim) {
  const Tensor x = to_strided(input);
  dim = wrap_dim(dim, x.dim());
  SG_CHECK(x.shape()[dim] == 1, "squeeze: dimension ", dim, " has size ", x.shape()[dim],
           ", not 1");
  Shape shape = x.shape();
  Strides strides = x.strides();
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  return x.as_strided(shape, strides, x.offset());
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  start_dim = wrap_dim(start_dim, x.dim());
  end_dim = wrap_dim(end_dim, x.dim());
  Shape shape(x.shape().begin(), x.shape().begin() + start_dim);
  int64_t merged = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) merged *= x.shape()[d];
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape().begin() + end_dim + 1, x.shape().end());
  return reshape(x, shape);
}

}  // namespace sg::engine
