// CUDA indexing and joining: one thread per output (or source) element; scatter_add adds with
// atomics because several sources may land on one output element.
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/kernel_util.cuh"

namespace sg {

using namespace cuda;

namespace {

// out (contiguous, shape `shape`) [.., i, ..] = x[.., index[i], ..] along `dim`.
template <typename T>
__global__ void index_select_kernel(T* out, Indexer shape, const T* x, Indexer xi,
                                    const int64_t* index, int64_t index_stride, int dim,
                                    int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    int64_t rest = i, at = 0;
    for (int d = shape.ndim - 1; d >= 0; --d) {
      int64_t k = rest % shape.sizes[d];
      rest /= shape.sizes[d];
      if (d == dim) k = index[k * index_stride];
      at += k * xi.strides[d];
    }
    out[i] = x[at];
  }
}

// gather (scatter = false): out[i] = x[position of i with index[i] along dim];
// scatter_add (scatter = true): out[position] += src[i].
template <typename T, bool scatter>
__global__ void gather_scatter_kernel(T* big, Indexer bi, T* small, Indexer si, Indexer index_shape,
                                      const int64_t* index, Indexer ii, int dim, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    int64_t rest = i, at = 0;
    for (int d = index_shape.ndim - 1; d >= 0; --d) {
      int64_t k = rest % index_shape.sizes[d];
      rest /= index_shape.sizes[d];
      if (d == dim) k = index[ii.offset(i)];
      at += k * bi.strides[d];
    }
    if constexpr (scatter)
      atomicAdd(big + at, small[si.offset(i)]);
    else
      small[si.offset(i)] = big[at];
  }
}

}  // namespace

Tensor CudaBackend::index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  Shape shape = x.shape();
  shape[size_t(dim)] = index.shape()[0];
  Tensor out = empty(shape, x.dtype());
  int64_t n = out.numel();
  if (n == 0) return out;
  dispatch_all(x.dtype(), "index_select", [&]<typename T>() {
    index_select_kernel<<<blocks_for(n), kThreads, 0, stream_of(x)>>>(
        static_cast<T*>(out.raw_data()), indexer(out), static_cast<const T*>(x.raw_data()),
        indexer(x), static_cast<const int64_t*>(index.raw_data()), index.strides()[0], int(dim), n);
  });
  check_launch("index_select");
  return out;
}

Tensor CudaBackend::gather(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = empty(index.shape(), x.dtype());
  int64_t n = out.numel();
  if (n == 0) return out;
  dispatch_all(x.dtype(), "gather", [&]<typename T>() {
    gather_scatter_kernel<T, false><<<blocks_for(n), kThreads, 0, stream_of(x)>>>(
        static_cast<T*>(x.raw_data()), indexer(x), static_cast<T*>(out.raw_data()), indexer(out),
        indexer(index), static_cast<const int64_t*>(index.raw_data()), indexer(index), int(dim), n);
  });
  check_launch("gather");
  return out;
}

Tensor CudaBackend::scatter_add(const Tensor& self, int64_t dim, const Tensor& index,
                                const Tensor& src) {
  Tensor out = empty(self.shape(), self.dtype());
  copy(out, self);
  int64_t n = index.numel();
  if (n == 0) return out;
  dispatch_floating(self.dtype(), "scatter_add", [&]<typename T>() {
    if constexpr (std::is_same_v<T, __half>) {
      SG_CHECK(false, "scatter_add: no CUDA kernel for float16");
    } else {
      gather_scatter_kernel<T, true><<<blocks_for(n), kThreads, 0, stream_of(self)>>>(
          static_cast<T*>(out.raw_data()), indexer(out), static_cast<T*>(src.raw_data()),
          broadcast_indexer(src, index.shape()), indexer(index),
          static_cast<const int64_t*>(index.raw_data()), indexer(index), int(dim), n);
    }
  });
  check_launch("scatter_add");
  return out;
}

Tensor CudaBackend::cat(const std::vector<Tensor>& tensors, int64_t dim) {
  Shape shape = tensors.front().shape();
  shape[size_t(dim)] = 0;
  for (const auto& t : tensors) shape[size_t(dim)] += t.shape()[size_t(dim)];
  Tensor out = empty(shape, tensors.front().dtype());
  int64_t start = 0;
  for (const auto& t : tensors) {
    // Each input goes into its slab of the output, viewed through the output's strides.
    copy(out.as_strided(t.shape(), out.strides(), start * out.strides()[size_t(dim)]), t);
    start += t.shape()[size_t(dim)];
  }
  return out;
}

}  // namespace sg
