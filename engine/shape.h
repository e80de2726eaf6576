#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sg {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

int64_t numel(const Shape& shape);
Strides contiguous_strides(const Shape& shape);
std::string shape_str(const Shape& shape);
// Resolves a possibly negative dimension against a rank, with a clear error when out of range.
int64_t wrap_dim(int64_t dim, int64_t rank);
// NumPy broadcasting of two shapes; throws naming both when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b);
// The shape left after reducing over `dims`: those dimensions dropped, or kept as 1.
Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim);

}  // namespace sg
