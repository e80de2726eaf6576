// Reference 2-D convolution (cross-correlation, groups = 1), written from its definition:
//   y[n,o,i,j] = bias[o] + sum_{c,p,q} x[n, c, i*stride - pad + p, j*stride - pad + q] * w[o,c,p,q]
// The two backward kernels visit the same (output, kernel-tap) pairs and route the product the
// other way: backward-data into the input position, backward-weight into the kernel tap.
#include "engine/ops.h"
#include "engine/reference/reference_backend.h"

namespace sg {

namespace {
// Element (a, b, c, d) of a 4-D strided tensor.
template <typename T>
struct View4 {
  const T* p;
  Strides s;
  T operator()(int64_t a, int64_t b, int64_t c, int64_t d) const {
    return p[a * s[0] + b * s[1] + c * s[2] + d * s[3]];
  }
};
}  // namespace

Tensor ReferenceBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                                        Conv2dOptions o) {
  Shape ys = engine::conv2d_output_shape(x.shape(), w.shape(), o);
  Tensor y = Tensor::empty(ys, x.dtype());
  dispatch_floating(x.dtype(), "conv2d_forward", [&]<typename T>() {
    View4<T> X{x.data<T>(), x.strides()}, W{w.data<T>(), w.strides()};
    T* Y = y.data<T>();
    int64_t C = x.shape()[1], H = x.shape()[2], Wd = x.shape()[3], KH = w.shape()[2],
            KW = w.shape()[3];
    for (int64_t n = 0; n < ys[0]; ++n)
      for (int64_t oc = 0; oc < ys[1]; ++oc)
        for (int64_t i = 0; i < ys[2]; ++i)
          for (int64_t j = 0; j < ys[3]; ++j) {
            double acc = bias.defined() ? double(bias.data<T>()[oc * bias.strides()[0]]) : 0.0;
            for (int64_t c = 0; c < C; ++c)
              for (int64_t p = 0; p < KH; ++p)
                for (int64_t q = 0; q < KW; ++q) {
                  int64_t h = i * o.stride - o.padding + p, v = j * o.stride - o.padding + q;
                  if (h < 0 || h >= H || v < 0 || v >= Wd) continue;  // zero padding
                  acc += double(X(n, c, h, v)) * double(W(oc, c, p, q));
                }
            *Y++ = static_cast<T>(acc);
          }
  });
  return y;
}

Tensor ReferenceBackend::conv2d_backward_data(const Tensor& grad_y, const Tensor& w,
                                              const Shape& x_shape, Conv2dOptions o) {
  std::vector<double> dx(numel(x_shape), 0.0);
  Strides xs = contiguous_strides(x_shape);
  dispatch_floating(w.dtype(), "conv2d_backward_data", [&]<typename T>() {
    View4<T> G{grad_y.data<T>(), grad_y.strides()}, W{w.data<T>(), w.strides()};
    const Shape& ys = grad_y.shape();
    int64_t C = x_shape[1], H = x_shape[2], Wd = x_shape[3], KH = w.shape()[2], KW = w.shape()[3];
    for (int64_t n = 0; n < ys[0]; ++n)
      for (int64_t oc = 0; oc < ys[1]; ++oc)
        for (int64_t i = 0; i < ys[2]; ++i)
          for (int64_t j = 0; j < ys[3]; ++j) {
            double g = G(n, oc, i, j);
            for (int64_t c = 0; c < C; ++c)
              for (int64_t p = 0; p < KH; ++p)
                for (int64_t q = 0; q < KW; ++q) {
                  int64_t h = i * o.stride - o.padding + p, v = j * o.stride - o.padding + q;
                  if (h < 0 || h >= H || v < 0 || v >= Wd) continue;
                  dx[n * xs[0] + c * xs[1] + h * xs[2] + v] += g * double(W(oc, c, p, q));
                }
          }
  });
  Tensor out = Tensor::empty(x_shape, w.dtype());
  dispatch_floating(w.dtype(), "conv2d_backward_data", [&]<typename T>() {
    for (size_t i = 0; i < dx.size(); ++i) out.data<T>()[i] = static_cast<T>(dx[i]);
  });
  return out;
}

Tensor ReferenceBackend::conv2d_backward_weight(const Tensor& grad_y, const Tensor& x,
                                                const Shape& w_shape, Conv2dOptions o) {
  Tensor dw = Tensor::empty(w_shape, x.dtype());
  dispatch_floating(x.dtype(), "conv2d_backward_weight", [&]<typename T>() {
    View4<T> G{grad_y.data<T>(), grad_y.strides()}, X{x.data<T>(), x.strides()};
    const Shape& ys = grad_y.shape();
    int64_t H = x.shape()[2], Wd = x.shape()[3];
    T* D = dw.data<T>();
    for (int64_t oc = 0; oc < w_shape[0]; ++oc)
      for (int64_t c = 0; c < w_shape[1]; ++c)
        for (int64_t p = 0; p < w_shape[2]; ++p)
          for (int64_t q = 0; q < w_shape[3]; ++q) {
            double acc = 0;
            for (int64_t n = 0; n < ys[0]; ++n)
              for (int64_t i = 0; i < ys[2]; ++i)
                for (int64_t j = 0; j < ys[3]; ++j) {
                  int64_t h = i * o.stride - o.padding + p, v = j * o.stride - o.padding + q;
                  if (h < 0 || h >= H || v < 0 || v >= Wd) continue;
                  acc += double(G(n, oc, i, j)) * double(X(n, c, h, v));
                }
            *D++ = static_cast<T>(acc);
          }
  });
  return dw;
}

}  // namespace sg
