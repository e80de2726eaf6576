// CUDA reductions: one block per output element, its threads striding over the reduced
// elements, partial results combined in shared memory. Arg-reductions and log-softmax scan one
// line per thread (their lines are short in this engine: classes, GSG's four pairs).
#include <algorithm>
#include <limits>

#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/kernel_util.cuh"

namespace sg {

using namespace cuda;

namespace {

template <typename A>
__device__ A combine(ReduceOp op, A a, A b) {
  switch (op) {
    case ReduceOp::Max:
      return a > b ? a : b;
    case ReduceOp::Min:
      return a < b ? a : b;
    default:
      return a + b;
  }
}

// Block `o` reduces the `count` elements of output o: kept dims through `kept`, reduced dims
// through `reduced` (both index the input).
template <typename T>
__global__ void reduce_kernel(ReduceOp op, T* out, const T* x, Indexer kept, Indexer reduced,
                              int64_t count, int64_t outputs, acc_t<T> init) {
  using A = acc_t<T>;
  __shared__ A partial[kThreads];
  for (int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    const T* base = x + kept.offset(o);
    A acc = init;
    for (int64_t r = threadIdx.x; r < count; r += blockDim.x)
      acc = combine(op, acc, load(base + reduced.offset(r)));
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s /= 2) {
      if (int(threadIdx.x) < s)
        partial[threadIdx.x] = combine(op, partial[threadIdx.x], partial[threadIdx.x + s]);
      __syncthreads();
    }
    if (threadIdx.x == 0) store(out + o, op == ReduceOp::Mean ? partial[0] / A(count) : partial[0]);
    __syncthreads();
  }
}

template <typename T>
__global__ void arg_reduce_kernel(ArgReduceOp op, int64_t* out, const T* x, Indexer outer,
                                  int64_t len, int64_t stride, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    const T* line = x + outer.offset(i);
    int64_t best = 0;
    acc_t<T> b = load(line);
    for (int64_t k = 1; k < len; ++k) {
      acc_t<T> v = load(line + k * stride);
      if (op == ArgReduceOp::Argmin ? v < b : v > b) best = k, b = v;  // first index wins ties
    }
    out[i] = best;
  }
}

// x, out contiguous [outer, len, inner]; one thread per (outer, inner) line.
template <typename T>
__global__ void log_softmax_kernel(T* out, const T* x, int64_t len, int64_t inner, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    int64_t base = (i / inner) * len * inner + i % inner;
    acc_t<T> mx = load(x + base);
    for (int64_t k = 1; k < len; ++k) mx = max(mx, load(x + base + k * inner));
    acc_t<T> sum = 0;
    for (int64_t k = 0; k < len; ++k) sum += exp(load(x + base + k * inner) - mx);
    acc_t<T> lse = mx + log(sum);
    for (int64_t k = 0; k < len; ++k)
      store(out + base + k * inner, load(x + base + k * inner) - lse);
  }
}

// dx = dy - softmax * sum(dy), softmax = exp(y).
template <typename T>
__global__ void log_softmax_backward_kernel(T* dx, const T* dy, const T* y, int64_t len,
                                            int64_t inner, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    int64_t base = (i / inner) * len * inner + i % inner;
    acc_t<T> sum = 0;
    for (int64_t k = 0; k < len; ++k) sum += load(dy + base + k * inner);
    for (int64_t k = 0; k < len; ++k)
      store(dx + base + k * inner,
            load(dy + base + k * inner) - exp(load(y + base + k * inner)) * sum);
  }
}

// Sizes and input strides of the dims selected (or not) by `dims`.
Indexer sub_indexer(const Tensor& x, const std::vector<int64_t>& dims, bool selected) {
  Indexer ix;
  for (int64_t d = 0; d < x.dim(); ++d) {
    bool in = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (in != selected) continue;
    ix.sizes[ix.ndim] = x.shape()[size_t(d)];
    ix.strides[ix.ndim] = x.strides()[size_t(d)];
    ++ix.ndim;
  }
  return ix;
}

// [outer, len, inner] view sizes of a contiguous tensor around `dim`.
void split_at(const Shape& shape, int64_t dim, int64_t& outer, int64_t& len, int64_t& inner) {
  outer = inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= shape[size_t(d)];
  len = shape[size_t(dim)];
  for (int64_t d = dim + 1; d < int64_t(shape.size()); ++d) inner *= shape[size_t(d)];
}

}  // namespace

Tensor CudaBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                           bool keepdim) {
  SG_CHECK(x.dim() <= kMaxDims, "reduce: at most ", kMaxDims, " dimensions on CUDA");
  Tensor out = empty(reduced_shape(x.shape(), dims, keepdim), x.dtype());
  int64_t outputs = out.numel();
  if (outputs == 0) return out;
  int64_t count = x.numel() / outputs;
  SG_CHECK(count > 0 || op == ReduceOp::Sum || op == ReduceOp::Mean,
           "max/min over an empty dimension of shape ", shape_str(x.shape()));
  Indexer kept = sub_indexer(x, dims, false), reduced = sub_indexer(x, dims, true);
  dispatch_floating(x.dtype(), "reduce", [&]<typename T>() {
    using A = acc_t<T>;
    A init = op == ReduceOp::Max   ? -std::numeric_limits<A>::infinity()
             : op == ReduceOp::Min ? std::numeric_limits<A>::infinity()
                                   : A(0);
    int blocks = int(std::min<int64_t>(outputs, 65535));
    reduce_kernel<<<blocks, kThreads, 0, stream_of(x)>>>(op, static_cast<T*>(out.raw_data()),
                                                         static_cast<const T*>(x.raw_data()), kept,
                                                         reduced, count, outputs, init);
  });
  check_launch("reduce");
  return out;
}

Tensor CudaBackend::arg_reduce(ArgReduceOp op, const Tensor& x, int64_t dim, bool keepdim) {
  Tensor out = empty(reduced_shape(x.shape(), {dim}, keepdim), DType::Int64);
  int64_t n = out.numel();
  if (n == 0) return out;
  Indexer outer = sub_indexer(x, {dim}, false);
  dispatch_floating(x.dtype(), "arg_reduce", [&]<typename T>() {
    arg_reduce_kernel<<<blocks_for(n), kThreads, 0, stream_of(x)>>>(
        op, static_cast<int64_t*>(out.raw_data()), static_cast<const T*>(x.raw_data()), outer,
        x.shape()[size_t(dim)], x.strides()[size_t(dim)], n);
  });
  check_launch("arg_reduce");
  return out;
}

Tensor CudaBackend::log_softmax_forward(const Tensor& x_in, int64_t dim) {
  Tensor x = dense(x_in);
  Tensor out = empty(x.shape(), x.dtype());
  int64_t outer, len, inner;
  split_at(x.shape(), dim, outer, len, inner);
  int64_t n = outer * inner;
  if (n == 0 || len == 0) return out;
  dispatch_floating(x.dtype(), "log_softmax", [&]<typename T>() {
    log_softmax_kernel<<<blocks_for(n), kThreads, 0, stream_of(x)>>>(
        static_cast<T*>(out.raw_data()), static_cast<const T*>(x.raw_data()), len, inner, n);
  });
  check_launch("log_softmax");
  return out;
}

Tensor CudaBackend::log_softmax_backward(const Tensor& grad_y, const Tensor& y, int64_t dim) {
  Tensor gy = dense(grad_y), yc = dense(y);
  Tensor dx = empty(y.shape(), y.dtype());
  int64_t outer, len, inner;
  split_at(y.shape(), dim, outer, len, inner);
  int64_t n = outer * inner;
  if (n == 0 || len == 0) return dx;
  dispatch_floating(y.dtype(), "log_softmax_backward", [&]<typename T>() {
    log_softmax_backward_kernel<<<blocks_for(n), kThreads, 0, stream_of(y)>>>(
        static_cast<T*>(dx.raw_data()), static_cast<const T*>(gy.raw_data()),
        static_cast<const T*>(yc.raw_data()), len, inner, n);
  });
  check_launch("log_softmax_backward");
  return dx;
}

}  // namespace sg
