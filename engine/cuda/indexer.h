#pragma once
// How CUDA kernels find an element of a strided, possibly broadcast operand: a linear index over
// the output shape is split into coordinates, each multiplied by the operand's stride (0 along a
// broadcast dimension). Plain C++ as well, so the host-side tests check it where no GPU exists.
#include "engine/host_device.h"
#include "engine/tensor.h"

namespace sg::cuda {

constexpr int kMaxDims = 8;

struct Indexer {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  SG_HOST_DEVICE int64_t offset(int64_t linear) const {
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      off += (linear % sizes[d]) * strides[d];
      linear /= sizes[d];
    }
    return off;
  }
};

// Indexer for `t` seen through `shape` (t's shape broadcast to it: stride 0 where t has 1).
inline Indexer broadcast_indexer(const Tensor& t, const Shape& shape) {
  SG_CHECK(shape.size() <= size_t(kMaxDims), "CUDA kernels take at most ", kMaxDims,
           " dimensions, got ", shape_str(shape));
  Indexer ix;
  ix.ndim = int(shape.size());
  int64_t lead = int64_t(shape.size()) - t.dim();
  for (int64_t d = 0; d < int64_t(shape.size()); ++d) {
    ix.sizes[d] = shape[size_t(d)];
    int64_t td = d - lead;
    ix.strides[d] = td < 0 || t.shape()[size_t(td)] == 1 ? 0 : t.strides()[size_t(td)];
  }
  return ix;
}
inline Indexer indexer(const Tensor& t) { return broadcast_indexer(t, t.shape()); }

}  // namespace sg::cuda
