// Reference batch normalisation over every dimension but the channel dimension 1.
// Training normalises with the biased batch variance and moves the running statistics by
//   running = (1 - momentum) * running + momentum * batch_statistic,
// using the unbiased variance (n / (n - 1)) for running_var, as PyTorch does.
#include <cmath>

#include "engine/reference/reference_backend.h"
#include "engine/reference/strided_walk.h"

namespace sg {

namespace {
// Calls f(channel, offsets) for every element, with the element's offset in each tensor.
template <size_t N, typename F>
void for_each_element(std::array<const Tensor*, N> ts, F f) {
  std::array<Strides, N> strides;
  for (size_t k = 0; k < N; ++k) strides[k] = ts[k]->strides();
  reference::StridedWalk<N> walk(ts[0]->shape(), strides);
  for (int64_t i = 0; i < ts[0]->numel(); ++i, walk.next()) {
    std::array<int64_t, N> at;
    for (size_t k = 0; k < N; ++k) at[k] = walk.offset(k);
    f(walk.index()[1], at);
  }
}

template <typename T>
double channel_value(const Tensor& t, int64_t c, double if_undefined) {
  return t.defined() ? double(t.data<T>()[c * t.strides()[0]]) : if_undefined;
}
}  // namespace

BatchNormForward ReferenceBackend::batch_norm_forward_train(
    const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
    const Tensor& running_var, double momentum, double eps, bool relu) {
  int64_t C = x.shape()[1];
  double count = double(x.numel() / C);
  BatchNormForward out{Tensor::empty(x.shape(), x.dtype()), Tensor::empty({C}, x.dtype()),
                       Tensor::empty({C}, x.dtype()), Tensor()};
  dispatch_floating(x.dtype(), "batch_norm_forward_train", [&]<typename T>() {
    const T* X = x.data<T>();
    std::vector<double> mean(C, 0.0), var(C, 0.0);
    for_each_element<1>({&x}, [&](int64_t c, auto at) { mean[c] += X[at[0]]; });
    for (auto& m : mean) m /= count;
    for_each_element<1>({&x}, [&](int64_t c, auto at) {
      double d = X[at[0]] - mean[c];
      var[c] += d * d;
    });
    for (auto& v : var) v /= count;  // biased: what the batch is normalised with
    T* Y = out.y.data<T>();
    for_each_element<2>({&x, &out.y}, [&](int64_t c, auto at) {
      double xhat = (X[at[0]] - mean[c]) / std::sqrt(var[c] + eps);
      double y = xhat * channel_value<T>(gamma, c, 1.0) + channel_value<T>(beta, c, 0.0);
      Y[at[1]] = static_cast<T>(relu && y < 0 ? 0.0 : y);
    });
    for (int64_t c = 0; c < C; ++c) {
      out.save_mean.data<T>()[c] = static_cast<T>(mean[c]);
      out.save_var.data<T>()[c] = static_cast<T>(var[c]);
      if (running_mean.defined()) {
        T& rm = running_mean.data<T>()[c * running_mean.strides()[0]];
        rm = static_cast<T>((1 - momentum) * rm + momentum * mean[c]);
      }
      if (running_var.defined()) {
        T& rv = running_var.data<T>()[c * running_var.strides()[0]];
        rv = static_cast<T>((1 - momentum) * rv + momentum * var[c] * count / (count - 1));
      }
    }
  });
  if (relu) out.relu_mask = out.y;  // y > 0 exactly where the ReLU passed its input
  return out;
}

Tensor ReferenceBackend::batch_norm_forward_infer(const Tensor& x, const Tensor& gamma,
                                                  const Tensor& beta, const Tensor& running_mean,
                                                  const Tensor& running_var, double eps,
                                                  bool relu) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), "batch_norm_forward_infer", [&]<typename T>() {
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    for_each_element<2>({&x, &y}, [&](int64_t c, auto at) {
      double xhat = (X[at[0]] - channel_value<T>(running_mean, c, 0)) /
                    std::sqrt(channel_value<T>(running_var, c, 1) + eps);
      double out = xhat * channel_value<T>(gamma, c, 1.0) + channel_value<T>(beta, c, 0.0);
      Y[at[1]] = static_cast<T>(relu && out < 0 ? 0.0 : out);
    });
  });
  return y;
}

// With invstd = 1 / sqrt(var + eps), xhat = (x - mean) * invstd and m values per channel:
//   dbeta = sum(dy), dgamma = sum(dy * xhat),
//   dx = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma).
BatchNormGrads ReferenceBackend::batch_norm_backward(const Tensor& grad_y_in, const Tensor& x,
                                                     const Tensor& gamma, const Tensor& save_mean,
                                                     const Tensor& save_var, double eps,
                                                     const Tensor& relu_mask) {
  // A fused ReLU first zeroes the gradient where it blocked its input.
  const Tensor& grad_y = relu_mask.defined() ? relu_backward(grad_y_in, relu_mask) : grad_y_in;
  int64_t C = x.shape()[1];
  double m = double(x.numel() / C);
  BatchNormGrads g{Tensor::empty(x.shape(), x.dtype()), Tensor::empty({C}, x.dtype()),
                   Tensor::empty({C}, x.dtype())};
  dispatch_floating(x.dtype(), "batch_norm_backward", [&]<typename T>() {
    const T* X = x.data<T>();
    std::vector<double> dbeta(C, 0.0), dgamma(C, 0.0);
    const T* GY = grad_y.data<T>();
    std::vector<double> invstd(C);
    for (int64_t c = 0; c < C; ++c)
      invstd[c] = 1.0 / std::sqrt(channel_value<T>(save_var, c, 1) + eps);
    auto xhat = [&](int64_t c, int64_t at) {
      return (X[at] - channel_value<T>(save_mean, c, 0)) * invstd[c];
    };
    for_each_element<2>({&x, &grad_y}, [&](int64_t c, auto at) {
      dbeta[c] += GY[at[1]];
      dgamma[c] += GY[at[1]] * xhat(c, at[0]);
    });
    T* DX = g.dx.data<T>();
    for_each_element<3>({&x, &grad_y, &g.dx}, [&](int64_t c, auto at) {
      double k = channel_value<T>(gamma, c, 1.0) * invstd[c] / m;
      DX[at[2]] = static_cast<T>(k * (m * GY[at[1]] - dbeta[c] - xhat(c, at[0]) * dgamma[c]));
    });
    for (int64_t c = 0; c < C; ++c) {
      g.dgamma.data<T>()[c] = static_cast<T>(dgamma[c]);
      g.dbeta.data<T>()[c] = static_cast<T>(dbeta[c]);
    }
  });
  return g;
}

}  // namespace sg
