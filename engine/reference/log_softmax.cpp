// Reference log-softmax along one dimension, stabilised by subtracting the maximum:
//   y_i = x_i - max - log(sum_j exp(x_j - max)).   Backward: dx_i = dy_i - exp(y_i) * sum_j dy_j.
#include <cmath>
#include <limits>

#include "engine/reference/reference_backend.h"
#include "engine/reference/strided_walk.h"

namespace sg {

namespace {
// Calls f(offset_in_a, offset_in_b) for the start of every 1-D slice along `dim`.
template <typename F>
void for_each_slice(const Tensor& a, const Tensor& b, int64_t dim, F f) {
  Shape outer = a.shape();
  outer[dim] = 1;
  reference::StridedWalk<2> walk(outer, {a.strides(), b.strides()});
  for (int64_t i = 0; i < numel(outer); ++i, walk.next()) f(walk.offset(0), walk.offset(1));
}
}  // namespace

Tensor ReferenceBackend::log_softmax_forward(const Tensor& x, int64_t dim) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  int64_t n = x.shape()[dim], xs = x.strides()[dim], ys = y.strides()[dim];
  dispatch_floating(x.dtype(), "log_softmax_forward", [&]<typename T>() {
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    for_each_slice(x, y, dim, [&](int64_t xo, int64_t yo) {
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < n; ++k) mx = std::max(mx, double(X[xo + k * xs]));
      double total = 0;
      for (int64_t k = 0; k < n; ++k) total += std::exp(double(X[xo + k * xs]) - mx);
      double log_total = std::log(total);
      for (int64_t k = 0; k < n; ++k)
        Y[yo + k * ys] = static_cast<T>(X[xo + k * xs] - mx - log_total);
    });
  });
  return y;
}

Tensor ReferenceBackend::log_softmax_backward(const Tensor& grad_y, const Tensor& y, int64_t dim) {
  Tensor dx = Tensor::empty(y.shape(), y.dtype());
  int64_t n = y.shape()[dim];
  dispatch_floating(y.dtype(), "log_softmax_backward", [&]<typename T>() {
    const T* G = grad_y.data<T>();
    const T* Y = y.data<T>();
    T* D = dx.data<T>();
    int64_t gs = grad_y.strides()[dim], ys = y.strides()[dim], ds = dx.strides()[dim];
    reference::StridedWalk<3> walk(
        [&] {
          Shape s = y.shape();
          s[dim] = 1;
          return s;
        }(),
        {grad_y.strides(), y.strides(), dx.strides()});
    for (int64_t i = 0; i < y.numel() / std::max<int64_t>(n, 1); ++i, walk.next()) {
      double total = 0;
      for (int64_t k = 0; k < n; ++k) total += G[walk.offset(0) + k * gs];
      for (int64_t k = 0; k < n; ++k)
        D[walk.offset(2) + k * ds] = static_cast<T>(
            G[walk.offset(0) + k * gs] - std::exp(double(Y[walk.offset(1) + k * ys])) * total);
    }
  });
  return dx;
}

}  // namespace sg
