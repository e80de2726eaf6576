// Reference indexing and joining kernels.
#include "engine/reference/reference_backend.h"
#include "engine/reference/strided_walk.h"

namespace sg {

using reference::StridedWalk;

namespace {
int64_t checked_index(const Tensor& index, int64_t offset, int64_t size, const char* op) {
  int64_t k = index.data<int64_t>()[offset];
  SG_CHECK(k >= 0 && k < size, op, ": index ", k, " is out of range for a dimension of size ",
           size);
  return k;
}
}  // namespace

// out[..., i, ...] = x[..., index[i], ...]
Tensor ReferenceBackend::index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  Shape shape = x.shape();
  shape[dim] = index.shape()[0];
  Tensor out = Tensor::empty(shape, x.dtype());
  dispatch_all(x.dtype(), "index_select", [&]<typename T>() {
    StridedWalk<1> walk(shape, {out.strides()});
    const T* X = x.data<T>();
    T* O = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i, walk.next()) {
      int64_t at = 0;
      for (int64_t d = 0; d < x.dim(); ++d) {
        int64_t k = d == dim ? checked_index(index, walk.index()[d] * index.strides()[0],
                                             x.shape()[d], "index_select")
                             : walk.index()[d];
        at += k * x.strides()[d];
      }
      O[walk.offset(0)] = X[at];
    }
  });
  return out;
}

// out[i][j] = x[index[i][j]][j] for dim 0 (and likewise for other dims).
Tensor ReferenceBackend::gather(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = Tensor::empty(index.shape(), x.dtype());
  dispatch_all(x.dtype(), "gather", [&]<typename T>() {
    StridedWalk<2> walk(index.shape(), {out.strides(), index.strides()});
    const T* X = x.data<T>();
    T* O = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i, walk.next()) {
      int64_t at = 0;
      for (int64_t d = 0; d < x.dim(); ++d) {
        int64_t k = d == dim ? checked_index(index, walk.offset(1), x.shape()[d], "gather")
                             : walk.index()[d];
        at += k * x.strides()[d];
      }
      O[walk.offset(0)] = X[at];
    }
  });
  return out;
}

// out = self; out[index[i][j]][j] += src[i][j] for dim 0 (the adjoint of gather).
Tensor ReferenceBackend::scatter_add(const Tensor& self, int64_t dim, const Tensor& index,
                                     const Tensor& src) {
  Tensor out = Tensor::empty(self.shape(), self.dtype());
  copy(out, self);
  dispatch_all(self.dtype(), "scatter_add", [&]<typename T>() {
    StridedWalk<2> walk(index.shape(), {src.strides(), index.strides()});
    const T* S = src.data<T>();
    T* O = out.data<T>();
    for (int64_t i = 0; i < index.numel(); ++i, walk.next()) {
      int64_t at = 0;
      for (int64_t d = 0; d < out.dim(); ++d) {
        int64_t k = d == dim ? checked_index(index, walk.offset(1), out.shape()[d], "scatter_add")
                             : walk.index()[d];
        at += k * out.strides()[d];
      }
      O[at] += S[walk.offset(0)];
    }
  });
  return out;
}

Tensor ReferenceBackend::cat(const std::vector<Tensor>& tensors, int64_t dim) {
  Shape shape = tensors.front().shape();
  shape[dim] = 0;
  for (const auto& t : tensors) shape[dim] += t.shape()[dim];
  Tensor out = Tensor::empty(shape, tensors.front().dtype());
  int64_t start = 0;
  for (const auto& t : tensors) {
    // Copy each input into its slab of the output, viewed through the output's strides.
    Tensor slab = out.as_strided(t.shape(), out.strides(), start * out.strides()[dim]);
    copy(slab, t);
    start += t.shape()[dim];
  }
  return out;
}

}  // namespace sg
