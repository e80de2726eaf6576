#pragma once
// The fast CPU backend. oneDNN runs convolution, batch norm, pooling, ReLU, matmul, copies and
// elementwise math; activations stay in oneDNN's blocked layouts between those kernels.
// Everything else, and every float64 call, falls through to the reference kernels.
#include "engine/reference/reference_backend.h"

namespace sg {

namespace onednn {
// Whether batch_norm_add_relu_forward_train runs fused here (our NHWC bf16 kernels, the amx
// tier) rather than as batch_norm then add_relu: the same bits either way.
bool batch_norm_add_relu_fuses(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                               const Tensor& beta);
}  // namespace onednn

class OneDnnBackend final : public ReferenceBackend {
 public:
  std::string_view name() const override { return "onednn"; }
  bool accepts_opaque(OpFamily) const override { return true; }
  Tensor to_strided(const Tensor& x) override;

  void copy(const Tensor& dst, const Tensor& src) override;
  Tensor weight_converted(const Tensor& w, DType dtype) override;
  void fill(const Tensor& dst, double value) override;
  Tensor unary(UnaryOp op, const Tensor& x) override;
  Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) override;
  void binary_inplace(BinaryOp op, const Tensor& self, const Tensor& other) override;
  Tensor relu_forward(const Tensor& x) override;
  Tensor relu_backward(const Tensor& grad_y, const Tensor& y) override;
  Tensor relu_backward_of_sum(const Tensor& g1, const Tensor& g2, const Tensor& y) override;
  Tensor add_relu_forward(const Tensor& a, const Tensor& b) override;

  Tensor matmul(const Tensor& a, const Tensor& b) override;

  Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                        Conv2dOptions o) override;
  Tensor conv2d_backward_data(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                              Conv2dOptions o) override;
  Tensor conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Shape& w_shape,
                                Conv2dOptions o) override;

  BatchNormForward batch_norm_forward_train(const Tensor& x, const Tensor& gamma,
                                            const Tensor& beta, const Tensor& running_mean,
                                            const Tensor& running_var, double momentum, double eps,
                                            bool relu) override;
  BatchNormForward batch_norm_add_relu_forward_train(const Tensor& x, const Tensor& residual,
                                                     const Tensor& gamma, const Tensor& beta,
                                                     const Tensor& running_mean,
                                                     const Tensor& running_var, double momentum,
                                                     double eps) override;
  Tensor batch_norm_forward_infer(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  const Tensor& running_mean, const Tensor& running_var, double eps,
                                  bool relu) override;
  BatchNormGrads batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                     const Tensor& save_mean, const Tensor& save_var, double eps,
                                     const Tensor& relu_mask) override;

  MaxPool2dForward max_pool2d_forward(const Tensor& x, Pool2dOptions o) override;
  Tensor max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, const Shape& x_shape,
                             Pool2dOptions o) override;
  Tensor avg_pool2d_forward(const Tensor& x, Pool2dOptions o) override;
  Tensor avg_pool2d_backward(const Tensor& grad_y, const Shape& x_shape, Pool2dOptions o) override;

  Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                bool keepdim) override;
  void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
                  double momentum, double weight_decay, bool nesterov, double grad_scale) override;
  void ema_update(const Tensor& target, const Tensor& online, double tau) override;
};

Backend& onednn_backend();

}  // namespace sg
