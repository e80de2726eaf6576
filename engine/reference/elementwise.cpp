// Reference elementwise kernels: one loop over the output, operands read through their strides.
#include <cmath>

#include "engine/reference/reference_backend.h"
#include "engine/reference/strided_walk.h"

namespace sg {

using reference::broadcast_strides;
using reference::StridedWalk;

namespace {

template <typename T>
T apply_unary(UnaryOp op, T x) {
  switch (op) {
    case UnaryOp::Neg:
      return -x;
    case UnaryOp::Exp:
      return std::exp(x);
    case UnaryOp::Log:
      return std::log(x);
    case UnaryOp::Sqrt:
      return std::sqrt(x);
    case UnaryOp::Abs:
      return std::abs(x);
    case UnaryOp::Sign:
      return T((x > 0) - (x < 0));
  }
  return x;
}

template <typename T>
T apply_binary(BinaryOp op, T a, T b) {
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
      return std::pow(a, b);
    case BinaryOp::Maximum:
      return a > b ? a : b;
    case BinaryOp::Minimum:
      return a < b ? a : b;
    case BinaryOp::Greater:
      return T(a > b);
    case BinaryOp::Less:
      return T(a < b);
    case BinaryOp::GreaterEqual:
      return T(a >= b);
    case BinaryOp::LessEqual:
      return T(a <= b);
    case BinaryOp::Equal:
      return T(a == b);
  }
  return a;
}

// out[i] = f(x[i]) for a fresh contiguous output of x's shape.
template <typename T, typename F>
Tensor map_unary(const Tensor& x, F f) {
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  StridedWalk<2> walk(x.shape(), {out.strides(), x.strides()});
  T* o = out.data<T>();
  const T* in = x.data<T>();
  for (int64_t i = 0; i < x.numel(); ++i, walk.next()) o[walk.offset(0)] = f(in[walk.offset(1)]);
  return out;
}

}  // namespace

void ReferenceBackend::copy(const Tensor& dst, const Tensor& src) {
  dispatch_storage(dst.dtype(), "copy", [&]<typename D>() {
    dispatch_storage(src.dtype(), "copy", [&]<typename S>() {
      StridedWalk<2> walk(dst.shape(), {dst.strides(), src.strides()});
      D* d = dst.data<D>();
      const S* s = src.data<S>();
      for (int64_t i = 0; i < dst.numel(); ++i, walk.next())
        d[walk.offset(0)] = static_cast<D>(static_cast<double>(s[walk.offset(1)]));
    });
  });
}

void ReferenceBackend::fill(const Tensor& dst, double value) {
  dispatch_storage(dst.dtype(), "fill", [&]<typename T>() {
    StridedWalk<1> walk(dst.shape(), {dst.strides()});
    T* d = dst.data<T>();
    for (int64_t i = 0; i < dst.numel(); ++i, walk.next())
      d[walk.offset(0)] = static_cast<T>(value);
  });
}

Tensor ReferenceBackend::unary(UnaryOp op, const Tensor& x) {
  return dispatch_floating(x.dtype(), "unary", [&]<typename T>() {
    return map_unary<T>(x, [op](T v) { return apply_unary(op, v); });
  });
}

Tensor ReferenceBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  Shape shape = broadcast_shapes(a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, a.dtype());
  dispatch_all(a.dtype(), "binary", [&]<typename T>() {
    StridedWalk<3> walk(shape,
                        {out.strides(), broadcast_strides(a, shape), broadcast_strides(b, shape)});
    T* o = out.data<T>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i, walk.next())
      o[walk.offset(0)] = apply_binary(op, pa[walk.offset(1)], pb[walk.offset(2)]);
  });
  return out;
}

void ReferenceBackend::binary_inplace(BinaryOp op, const Tensor& self, const Tensor& other) {
  dispatch_all(self.dtype(), "binary_inplace", [&]<typename T>() {
    StridedWalk<2> walk(self.shape(), {self.strides(), broadcast_strides(other, self.shape())});
    T* s = self.data<T>();
    const T* o = other.data<T>();
    for (int64_t i = 0; i < self.numel(); ++i, walk.next())
      s[walk.offset(0)] = apply_binary(op, s[walk.offset(0)], o[walk.offset(1)]);
  });
}

Tensor ReferenceBackend::clamp(const Tensor& x, double lo, double hi) {
  return dispatch_floating(x.dtype(), "clamp", [&]<typename T>() {
    return map_unary<T>(x, [lo, hi](T v) { return v < T(lo) ? T(lo) : v > T(hi) ? T(hi) : v; });
  });
}

Tensor ReferenceBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape()), b.shape());
  Tensor out = Tensor::empty(shape, a.dtype());
  dispatch_floating(a.dtype(), "where", [&]<typename T>() {
    StridedWalk<4> walk(shape, {out.strides(), broadcast_strides(cond, shape),
                                broadcast_strides(a, shape), broadcast_strides(b, shape)});
    T* o = out.data<T>();
    const T* c = cond.data<T>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i, walk.next())
      o[walk.offset(0)] = c[walk.offset(1)] != T(0) ? pa[walk.offset(2)] : pb[walk.offset(3)];
  });
  return out;
}

Tensor ReferenceBackend::relu_forward(const Tensor& x) {
  return dispatch_floating(x.dtype(), "relu", [&]<typename T>() {
    return map_unary<T>(x, [](T v) { return v > T(0) ? v : T(0); });
  });
}

Tensor ReferenceBackend::copy_as(const Tensor& t, DType dtype) {
  Tensor out = Tensor::empty(t.shape(), dtype);
  copy(out, t);
  return out;
}

// The definition itself: the sum, then the ReLU. bf16 in float32 with one rounding at the end
// (the values of rounding the sum first: the ReLU keeps or zeroes what it gets).
Tensor ReferenceBackend::add_relu_forward(const Tensor& a, const Tensor& b) {
  if (a.dtype() == DType::BFloat16)
    return copy_as(add_relu_forward(copy_as(a, DType::Float32), copy_as(b, DType::Float32)),
                   DType::BFloat16);
  return relu_forward(binary(BinaryOp::Add, a, b));
}

// The gradient passes where the output is positive (y > 0 exactly when x > 0).
Tensor ReferenceBackend::relu_backward(const Tensor& grad_y, const Tensor& y) {
  Tensor out = Tensor::empty(y.shape(), y.dtype());
  dispatch_floating(y.dtype(), "relu_backward", [&]<typename T>() {
    StridedWalk<3> walk(y.shape(), {out.strides(), grad_y.strides(), y.strides()});
    T* o = out.data<T>();
    const T* g = grad_y.data<T>();
    const T* py = y.data<T>();
    for (int64_t i = 0; i < y.numel(); ++i, walk.next())
      o[walk.offset(0)] = py[walk.offset(2)] > T(0) ? g[walk.offset(1)] : T(0);
  });
  return out;
}

}  // namespace sg
