#pragma once
// Plain loops for every kernel: the oracle the fast backends are tested against, and the text a
// learner can read. Accumulation is done in double so the oracle is more exact than its subjects.
#include "engine/backend.h"

namespace sg {

class ReferenceBackend : public Backend {
 public:
  std::string_view name() const override { return "reference"; }

  void copy(const Tensor& dst, const Tensor& src) override;
  void fill(const Tensor& dst, double value) override;

  Tensor unary(UnaryOp op, const Tensor& x) override;
  Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) override;
  void binary_inplace(BinaryOp op, const Tensor& self, const Tensor& other) override;
  Tensor clamp(const Tensor& x, double lo, double hi) override;
  Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) override;
  Tensor relu_forward(const Tensor& x) override;
  Tensor relu_backward(const Tensor& grad_y, const Tensor& y) override;
  Tensor add_relu_forward(const Tensor& a, const Tensor& b) override;

  Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                bool keepdim) override;
  Tensor arg_reduce(ArgReduceOp op, const Tensor& x, int64_t dim, bool keepdim) override;

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

  Tensor log_softmax_forward(const Tensor& x, int64_t dim) override;
  Tensor log_softmax_backward(const Tensor& grad_y, const Tensor& y, int64_t dim) override;

  Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) override;
  Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) override;
  Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index,
                     const Tensor& src) override;
  Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) override;
  void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
                  double momentum, double weight_decay, bool nesterov, double grad_scale) override;
  void ema_update(const Tensor& target, const Tensor& online, double tau) override;

 protected:
  // t copied into a new contiguous tensor of `dtype` (copy converts): the bf16 definitions
  // compute in float32 on widened operands and round their result once with it.
  Tensor copy_as(const Tensor& t, DType dtype);
};

}  // namespace sg
