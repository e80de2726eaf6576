// Reference pooling over square windows. Max pooling remembers where each maximum came from so
// backward can route the gradient there; average pooling spreads it evenly over the window.
#include <limits>

#include "engine/ops.h"
#include "engine/reference/reference_backend.h"

namespace sg {

MaxPool2dForward ReferenceBackend::max_pool2d_forward(const Tensor& x, Pool2dOptions o) {
  Shape ys = engine::pool2d_output_shape(x.shape(), o);
  MaxPool2dForward out{Tensor::empty(ys, x.dtype()), Tensor::empty(ys, DType::Int64)};
  dispatch_floating(x.dtype(), "max_pool2d_forward", [&]<typename T>() {
    const T* X = x.data<T>();
    const Strides& s = x.strides();
    int64_t H = x.shape()[2], W = x.shape()[3];
    T* Y = out.y.data<T>();
    int64_t* I = out.indices.data<int64_t>();
    for (int64_t n = 0; n < ys[0]; ++n)
      for (int64_t c = 0; c < ys[1]; ++c)
        for (int64_t i = 0; i < ys[2]; ++i)
          for (int64_t j = 0; j < ys[3]; ++j) {
            T best = -std::numeric_limits<T>::infinity();
            int64_t best_at = -1;
            for (int64_t p = 0; p < o.kernel; ++p)
              for (int64_t q = 0; q < o.kernel; ++q) {
                int64_t h = i * o.stride - o.padding + p, w = j * o.stride - o.padding + q;
                if (h < 0 || h >= H || w < 0 || w >= W) continue;  // padding never wins
                T v = X[n * s[0] + c * s[1] + h * s[2] + w * s[3]];
                if (v > best || best_at < 0) best = v, best_at = h * W + w;
              }
            *Y++ = best;
            *I++ = best_at;
          }
  });
  return out;
}

Tensor ReferenceBackend::max_pool2d_backward(const Tensor& grad_y, const Tensor& indices,
                                             const Shape& x_shape, Pool2dOptions) {
  Tensor dx = Tensor::zeros(x_shape, grad_y.dtype());
  dispatch_floating(grad_y.dtype(), "max_pool2d_backward", [&]<typename T>() {
    const Shape& ys = grad_y.shape();
    const Strides& gs = grad_y.strides();
    const Strides& is = indices.strides();
    int64_t plane = x_shape[2] * x_shape[3];
    T* DX = dx.data<T>();
    for (int64_t n = 0; n < ys[0]; ++n)
      for (int64_t c = 0; c < ys[1]; ++c)
        for (int64_t i = 0; i < ys[2]; ++i)
          for (int64_t j = 0; j < ys[3]; ++j) {
            int64_t at = indices.data<int64_t>()[n * is[0] + c * is[1] + i * is[2] + j * is[3]];
            DX[(n * x_shape[1] + c) * plane + at] +=
                grad_y.data<T>()[n * gs[0] + c * gs[1] + i * gs[2] + j * gs[3]];
          }
  });
  return dx;
}

Tensor ReferenceBackend::avg_pool2d_forward(const Tensor& x, Pool2dOptions o) {
  Shape ys = engine::pool2d_output_shape(x.shape(), o);
  Tensor y = Tensor::empty(ys, x.dtype());
  dispatch_floating(x.dtype(), "avg_pool2d_forward", [&]<typename T>() {
    const T* X = x.data<T>();
    const Strides& s = x.strides();
    int64_t H = x.shape()[2], W = x.shape()[3];
    T* Y = y.data<T>();
    for (int64_t n = 0; n < ys[0]; ++n)
      for (int64_t c = 0; c < ys[1]; ++c)
        for (int64_t i = 0; i < ys[2]; ++i)
          for (int64_t j = 0; j < ys[3]; ++j) {
            double acc = 0;
            for (int64_t p = 0; p < o.kernel; ++p)
              for (int64_t q = 0; q < o.kernel; ++q) {
                int64_t h = i * o.stride - o.padding + p, w = j * o.stride - o.padding + q;
                if (h >= 0 && h < H && w >= 0 && w < W)
                  acc += X[n * s[0] + c * s[1] + h * s[2] + w * s[3]];
              }
            *Y++ = static_cast<T>(acc / double(o.kernel * o.kernel));
          }
  });
  return y;
}

Tensor ReferenceBackend::avg_pool2d_backward(const Tensor& grad_y, const Shape& x_shape,
                                             Pool2dOptions o) {
  Tensor dx = Tensor::zeros(x_shape, grad_y.dtype());
  dispatch_floating(grad_y.dtype(), "avg_pool2d_backward", [&]<typename T>() {
    const Shape& ys = grad_y.shape();
    const Strides& gs = grad_y.strides();
    int64_t H = x_shape[2], W = x_shape[3];
    T* DX = dx.data<T>();
    for (int64_t n = 0; n < ys[0]; ++n)
      for (int64_t c = 0; c < ys[1]; ++c)
        for (int64_t i = 0; i < ys[2]; ++i)
          for (int64_t j = 0; j < ys[3]; ++j) {
            T g = grad_y.data<T>()[n * gs[0] + c * gs[1] + i * gs[2] + j * gs[3]] /
                  T(o.kernel * o.kernel);
            for (int64_t p = 0; p < o.kernel; ++p)
              for (int64_t q = 0; q < o.kernel; ++q) {
                int64_t h = i * o.stride - o.padding + p, w = j * o.stride - o.padding + q;
                if (h >= 0 && h < H && w >= 0 && w < W)
                  DX[((n * x_shape[1] + c) * H + h) * W + w] += g;
              }
          }
  });
  return dx;
}

}  // namespace sg
