// CUDA elementwise kernels: one thread per output element (grid-stride), operands read through
// their own (broadcast) strides, arithmetic in float or double.
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/kernel_util.cuh"

namespace sg {

using namespace cuda;

namespace {

template <typename To, typename From>
__global__ void copy_kernel(To* dst, Indexer di, const From* src, Indexer si, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) { store(dst + di.offset(i), load(src + si.offset(i))); }
}

template <typename T>
__global__ void fill_kernel(T* dst, Indexer di, double value, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) { store(dst + di.offset(i), value); }
}

template <typename A>
__device__ A apply_unary(UnaryOp op, A x) {
  switch (op) {
    case UnaryOp::Neg:
      return -x;
    case UnaryOp::Exp:
      return exp(x);
    case UnaryOp::Log:
      return log(x);
    case UnaryOp::Sqrt:
      return sqrt(x);
    case UnaryOp::Abs:
      return fabs(x);
    case UnaryOp::Sign:
      return A((x > A(0)) - (x < A(0)));
  }
  return x;
}

template <typename A>
__device__ A apply_binary(BinaryOp op, A a, A b) {
  switch (op) {
    case BinaryOp::Add:
      return a + b;
    case BinaryOp::Sub:
      return a - b;
    case BinaryOp::Mul:
      return a * b;
    case BinaryOp::Div:
      return a / b;
    case BinaryOp::Pow:
      return pow(a, b);
    case BinaryOp::Maximum:
      return a > b ? a : b;
    case BinaryOp::Minimum:
      return a < b ? a : b;
    case BinaryOp::Greater:
      return A(a > b);
    case BinaryOp::Less:
      return A(a < b);
    case BinaryOp::GreaterEqual:
      return A(a >= b);
    case BinaryOp::LessEqual:
      return A(a <= b);
    case BinaryOp::Equal:
      return A(a == b);
  }
  return a;
}

template <typename T>
__global__ void unary_kernel(UnaryOp op, T* out, const T* x, Indexer xi, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) { store(out + i, apply_unary(op, load(x + xi.offset(i)))); }
}

template <typename T>
__global__ void binary_kernel(BinaryOp op, T* out, Indexer oi, const T* a, Indexer ai, const T* b,
                              Indexer bi, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    store(out + oi.offset(i), apply_binary(op, load(a + ai.offset(i)), load(b + bi.offset(i))));
  }
}

template <typename T>
__global__ void clamp_kernel(T* out, const T* x, Indexer xi, double lo, double hi, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    acc_t<T> v = load(x + xi.offset(i));
    v = v < acc_t<T>(lo) ? acc_t<T>(lo) : v;
    store(out + i, v > acc_t<T>(hi) ? acc_t<T>(hi) : v);
  }
}

template <typename T>
__global__ void where_kernel(T* out, const T* c, Indexer ci, const T* a, Indexer ai, const T* b,
                             Indexer bi, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    store(out + i,
          load(c + ci.offset(i)) != acc_t<T>(0) ? load(a + ai.offset(i)) : load(b + bi.offset(i)));
  }
}

template <typename T>
__global__ void relu_backward_kernel(T* out, const T* g, Indexer gi, const T* y, Indexer yi,
                                     int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    store(out + i, load(y + yi.offset(i)) > acc_t<T>(0) ? load(g + gi.offset(i)) : acc_t<T>(0));
  }
}

template <typename T>
__global__ void add_relu_kernel(T* out, const T* a, Indexer ai, const T* b, Indexer bi, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    acc_t<T> v = load(a + ai.offset(i)) + load(b + bi.offset(i));
    store(out + i, v > acc_t<T>(0) ? v : acc_t<T>(0));
  }
}

template <typename T, typename G>
__global__ void sgd_kernel(T* param, const G* grad, T* buf, double lr, double momentum,
                           double weight_decay, bool nesterov, double grad_scale, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    acc_t<T> p = load(param + i);
    acc_t<T> d = (acc_t<T>(load(grad + i)) + acc_t<T>(weight_decay) * p) * acc_t<T>(grad_scale);
    acc_t<T> b = acc_t<T>(momentum) * load(buf + i) + d;
    store(buf + i, b);
    store(param + i, p - acc_t<T>(lr) * (nesterov ? d + acc_t<T>(momentum) * b : b));
  }
}

template <typename T>
__global__ void ema_kernel(T* target, const T* online, double tau, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    store(target + i, acc_t<T>(tau) * load(target + i) + acc_t<T>(1 - tau) * load(online + i));
  }
}

}  // namespace

void CudaBackend::copy(const Tensor& dst, const Tensor& src) {
  int64_t n = dst.numel();
  if (n == 0) return;
  // Same dtype, both contiguous: one memcpy on the stream.
  if (dst.dtype() == src.dtype() && dst.shape() == src.shape() && dst.is_contiguous() &&
      src.is_contiguous()) {
    SG_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(),
                                  size_t(n) * element_size(dst.dtype()), cudaMemcpyDeviceToDevice,
                                  stream_of(dst)));
    return;
  }
  Indexer di = indexer(dst), si = broadcast_indexer(src, dst.shape());
  dispatch_all(dst.dtype(), "copy", [&]<typename To>() {
    dispatch_all(src.dtype(), "copy", [&]<typename From>() {
      copy_kernel<<<blocks_for(n), kThreads, 0, stream_of(dst)>>>(
          static_cast<To*>(dst.raw_data()), di, static_cast<const From*>(src.raw_data()), si, n);
    });
  });
  check_launch("copy");
}

void CudaBackend::fill(const Tensor& dst, double value) {
  int64_t n = dst.numel();
  if (n == 0) return;
  dispatch_all(dst.dtype(), "fill", [&]<typename T>() {
    fill_kernel<<<blocks_for(n), kThreads, 0, stream_of(dst)>>>(static_cast<T*>(dst.raw_data()),
                                                                indexer(dst), value, n);
  });
  check_launch("fill");
}

Tensor CudaBackend::unary(UnaryOp op, const Tensor& x) {
  Tensor out = empty(x.shape(), x.dtype());
  int64_t n = x.numel();
  if (n == 0) return out;
  dispatch_floating(x.dtype(), "unary", [&]<typename T>() {
    unary_kernel<<<blocks_for(n), kThreads, 0, stream_of(x)>>>(
        op, static_cast<T*>(out.raw_data()), static_cast<const T*>(x.raw_data()), indexer(x), n);
  });
  check_launch("unary");
  return out;
}

Tensor CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  Shape shape = broadcast_shapes(a.shape(), b.shape());
  Tensor out = empty(shape, a.dtype());
  int64_t n = out.numel();
  if (n == 0) return out;
  dispatch_all(a.dtype(), "binary", [&]<typename T>() {
    binary_kernel<<<blocks_for(n), kThreads, 0, stream_of(a)>>>(
        op, static_cast<T*>(out.raw_data()), indexer(out), static_cast<const T*>(a.raw_data()),
        broadcast_indexer(a, shape), static_cast<const T*>(b.raw_data()),
        broadcast_indexer(b, shape), n);
  });
  check_launch("binary");
  return out;
}

void CudaBackend::binary_inplace(BinaryOp op, const Tensor& self, const Tensor& other) {
  int64_t n = self.numel();
  if (n == 0) return;
  // Each element of self is read and written by the same thread, so aliasing is safe.
  dispatch_all(self.dtype(), "binary_inplace", [&]<typename T>() {
    binary_kernel<<<blocks_for(n), kThreads, 0, stream_of(self)>>>(
        op, static_cast<T*>(self.raw_data()), indexer(self), static_cast<const T*>(self.raw_data()),
        indexer(self), static_cast<const T*>(other.raw_data()),
        broadcast_indexer(other, self.shape()), n);
  });
  check_launch("binary_inplace");
}

Tensor CudaBackend::clamp(const Tensor& x, double lo, double hi) {
  Tensor out = empty(x.shape(), x.dtype());
  int64_t n = x.numel();
  if (n == 0) return out;
  dispatch_floating(x.dtype(), "clamp", [&]<typename T>() {
    clamp_kernel<<<blocks_for(n), kThreads, 0, stream_of(x)>>>(static_cast<T*>(out.raw_data()),
                                                               static_cast<const T*>(x.raw_data()),
                                                               indexer(x), lo, hi, n);
  });
  check_launch("clamp");
  return out;
}

Tensor CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape()), b.shape());
  Tensor out = empty(shape, a.dtype());
  int64_t n = out.numel();
  if (n == 0) return out;
  dispatch_floating(a.dtype(), "where", [&]<typename T>() {
    where_kernel<<<blocks_for(n), kThreads, 0, stream_of(a)>>>(
        static_cast<T*>(out.raw_data()), static_cast<const T*>(cond.raw_data()),
        broadcast_indexer(cond, shape), static_cast<const T*>(a.raw_data()),
        broadcast_indexer(a, shape), static_cast<const T*>(b.raw_data()),
        broadcast_indexer(b, shape), n);
  });
  check_launch("where");
  return out;
}

Tensor CudaBackend::relu_forward(const Tensor& x) {
  return clamp(x, 0.0, std::numeric_limits<double>::infinity());
}

Tensor CudaBackend::relu_backward(const Tensor& grad_y, const Tensor& y) {
  Tensor out = empty(y.shape(), y.dtype());
  int64_t n = y.numel();
  if (n == 0) return out;
  dispatch_floating(y.dtype(), "relu_backward", [&]<typename T>() {
    relu_backward_kernel<<<blocks_for(n), kThreads, 0, stream_of(y)>>>(
        static_cast<T*>(out.raw_data()), static_cast<const T*>(grad_y.raw_data()),
        broadcast_indexer(grad_y, y.shape()), static_cast<const T*>(y.raw_data()), indexer(y), n);
  });
  check_launch("relu_backward");
  return out;
}

Tensor CudaBackend::add_relu_forward(const Tensor& a, const Tensor& b) {
  Tensor out = empty(a.shape(), a.dtype());
  int64_t n = a.numel();
  if (n == 0) return out;
  dispatch_floating(a.dtype(), "add_relu", [&]<typename T>() {
    add_relu_kernel<<<blocks_for(n), kThreads, 0, stream_of(a)>>>(
        static_cast<T*>(out.raw_data()), static_cast<const T*>(a.raw_data()), indexer(a),
        static_cast<const T*>(b.raw_data()), indexer(b), n);
  });
  check_launch("add_relu");
  return out;
}

void CudaBackend::sgd_update(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                             double lr, double momentum, double weight_decay, bool nesterov,
                             double grad_scale) {
  int64_t n = param.numel();
  if (n == 0) return;
  dispatch_floating(param.dtype(), "sgd_update", [&]<typename T>() {
    dispatch_floating(grad.dtype(), "sgd_update", [&]<typename G>() {
      sgd_kernel<<<blocks_for(n), kThreads, 0, stream_of(param)>>>(
          static_cast<T*>(param.raw_data()), static_cast<const G*>(grad.raw_data()),
          static_cast<T*>(momentum_buffer.raw_data()), lr, momentum, weight_decay, nesterov,
          grad_scale, n);
    });
  });
  check_launch("sgd_update");
}

void CudaBackend::ema_update(const Tensor& target, const Tensor& online, double tau) {
  int64_t n = target.numel();
  if (n == 0) return;
  dispatch_floating(target.dtype(), "ema_update", [&]<typename T>() {
    ema_kernel<<<blocks_for(n), kThreads, 0, stream_of(target)>>>(
        static_cast<T*>(target.raw_data()), static_cast<const T*>(online.raw_data()), tau, n);
  });
  check_launch("ema_update");
}

}  // namespace sg
