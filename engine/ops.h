#pragma once
// Raw tensor operations: validated, dispatched to the tensor's backend, never recorded for
// autograd. autograd/ops.h wraps each differentiable one under the same name in namespace sg.
#include <vector>

#include "engine/backend.h"
#include "engine/tensor.h"

namespace sg::engine {

// ---- views: no data is copied ------------------------------------------------------------
Tensor view(const Tensor& x, Shape shape);     // fails when the strides do not allow a view
Tensor reshape(const Tensor& x, Shape shape);  // a view when possible, else a copy
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
// The permutation that swaps dim0 and dim1 of a rank-`rank` tensor.
std::vector<int64_t> transpose_dims(int64_t rank, int64_t dim0, int64_t dim1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Shape infer_shape(Shape shape, int64_t numel);  // resolves one -1

// ---- memory -------------------------------------------------------------------------------
void copy_(const Tensor& dst, const Tensor& src);  // src broadcasts to dst; dtypes may differ
void fill_(const Tensor& dst, double value);
Tensor contiguous(const Tensor& x);  // x itself when already contiguous
Tensor clone(const Tensor& x);
Tensor to(const Tensor& x, DType dtype);
// A weight converted to dtype (the SSL heads' Linear weights rounded to bf16 for their products),
// reused until the weight is written again (its version moves) where the backend keeps such
// results: once per optimizer step rather than once per view. The result must not be written.
Tensor weight_to(const Tensor& w, DType dtype);
Tensor to(const Tensor& x, Device device);
// x itself when strided; otherwise a contiguous copy converted from its opaque layout.
Tensor to_strided(const Tensor& x);

// ---- elementwise --------------------------------------------------------------------------
Tensor unary(UnaryOp op, const Tensor& x);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor binary(BinaryOp op, const Tensor& a, double b);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor pow(const Tensor& a, double b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor relu_forward(const Tensor& x);
Tensor relu_backward(const Tensor& grad_y, const Tensor& y);
// relu_backward(add(g1, g2), y) bit for bit, in one pass where the backend can: the gradient of
// a ReLU's output (a residual block's) that arrives from two consumers.
Tensor relu_backward_of_sum(const Tensor& g1, const Tensor& g2, const Tensor& y);
// max(a + b, 0), a and b of one shape: the bits of relu_forward(add(a, b)) in one pass.
Tensor add_relu_forward(const Tensor& a, const Tensor& b);

// In place: self op= other (other broadcasts to self). Each bumps self's version.
void binary_(BinaryOp op, const Tensor& self, const Tensor& other);
void add_(const Tensor& self, const Tensor& other);
void sub_(const Tensor& self, const Tensor& other);
void mul_(const Tensor& self, const Tensor& other);
void add_(const Tensor& self, double value);
void mul_(const Tensor& self, double value);

// ---- reductions ---------------------------------------------------------------------------
Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims, bool keepdim);
Tensor sum(const Tensor& x, std::vector<int64_t> dims, bool keepdim = false);
Tensor sum(const Tensor& x);  // all elements, 0-d result
Tensor mean(const Tensor& x, std::vector<int64_t> dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor amax(const Tensor& x, std::vector<int64_t> dims, bool keepdim = false);
Tensor amin(const Tensor& x, std::vector<int64_t> dims, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
// Sums a broadcast gradient back down to `shape` (the inverse of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- linear algebra, convolution, normalisation, pooling ------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Conv2dOptions o);
Tensor conv2d_backward_data(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                            Conv2dOptions o);
Tensor conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Shape& w_shape,
                              Conv2dOptions o);
Shape conv2d_output_shape(const Shape& x_shape, const Shape& w_shape, Conv2dOptions o);

BatchNormForward batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                          const Tensor& running_mean, const Tensor& running_var,
                                          double momentum, double eps, bool relu = false);
// max(batch_norm(x) + residual, 0) in training (a residual block's join), residual of x's shape
// and dtype; relu_mask stays undefined (backward reads y, as add_relu's does).
BatchNormForward batch_norm_add_relu_forward_train(const Tensor& x, const Tensor& residual,
                                                   const Tensor& gamma, const Tensor& beta,
                                                   const Tensor& running_mean,
                                                   const Tensor& running_var, double momentum,
                                                   double eps);
Tensor batch_norm_forward_infer(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                const Tensor& running_mean, const Tensor& running_var, double eps,
                                bool relu = false);
BatchNormGrads batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                   const Tensor& save_mean, const Tensor& save_var, double eps,
                                   const Tensor& relu_mask = Tensor());

MaxPool2dForward max_pool2d_forward(const Tensor& x, Pool2dOptions o);
Tensor max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, const Shape& x_shape,
                           Pool2dOptions o);
Tensor avg_pool2d_forward(const Tensor& x, Pool2dOptions o);
Tensor avg_pool2d_backward(const Tensor& grad_y, const Shape& x_shape, Pool2dOptions o);
Shape pool2d_output_shape(const Shape& x_shape, Pool2dOptions o);

Tensor log_softmax_forward(const Tensor& x, int64_t dim);
Tensor log_softmax_backward(const Tensor& grad_y, const Tensor& y, int64_t dim);

// ---- indexing and joining -----------------------------------------------------------------
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);

// ---- optimizer ----------------------------------------------------------------------------
// BYOL's target update: target = tau * target + (1 - tau) * online. Bumps target's version.
void ema_update(const Tensor& target, const Tensor& online, double tau);
// See Backend::sgd_update. Bumps the versions of param and momentum_buffer.
void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
                double momentum, double weight_decay, bool nesterov, double grad_scale = 1.0);

}  // namespace sg::engine
