#pragma once
// Visits every index of a shape in row-major order while tracking, for N operands with their
// own strides, the element offset of that index in each. Broadcast operands use stride 0.
#include <array>
#include <vector>

#include "engine/tensor.h"

namespace sg::reference {

template <size_t N>
class StridedWalk {
 public:
  StridedWalk(const Shape& shape, std::array<Strides, N> strides)
      : shape_(shape), strides_(std::move(strides)), index_(shape.size(), 0) {}

  int64_t offset(size_t operand) const { return offsets_[operand]; }
  const std::vector<int64_t>& index() const { return index_; }

  void next() {
    for (size_t d = shape_.size(); d-- > 0;) {
      for (size_t k = 0; k < N; ++k) offsets_[k] += strides_[k][d];
      if (++index_[d] < shape_[d]) return;
      for (size_t k = 0; k < N; ++k) offsets_[k] -= strides_[k][d] * shape_[d];
      index_[d] = 0;
    }
  }

 private:
  Shape shape_;
  std::array<Strides, N> strides_;
  std::vector<int64_t> index_;
  std::array<int64_t, N> offsets_{};
};

// Strides of `t` seen through a broadcast to `shape` (0 along broadcast dimensions).
inline Strides broadcast_strides(const Tensor& t, const Shape& shape) {
  Strides out(shape.size(), 0);
  size_t lead = shape.size() - t.shape().size();
  for (size_t i = lead; i < shape.size(); ++i)
    out[i] = t.shape()[i - lead] == 1 ? 0 : t.strides()[i - lead];
  return out;
}

}  // namespace sg::reference
