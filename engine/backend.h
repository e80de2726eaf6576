#pragma once
// The backend seam: every kernel the engine runs is a virtual method here. The reference
// backend implements all of them with plain loops; the oneDNN and CUDA backends override what
// they accelerate. Arguments arrive validated by engine/ops.cpp (shapes, dtypes, devices).
#include <string_view>
#include <vector>

#include "engine/tensor.h"

namespace sg {

enum class UnaryOp { Neg, Exp, Log, Sqrt, Abs, Sign };
enum class BinaryOp {
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Maximum,
  Minimum,
  Greater,
  Less,
  GreaterEqual,
  LessEqual,
  Equal
};
enum class ReduceOp { Sum, Mean, Max, Min };
enum class ArgReduceOp { Argmin, Argmax };

struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
};

struct Pool2dOptions {
  int64_t kernel = 2;
  int64_t stride = 2;
  int64_t padding = 0;
};

struct BatchNormForward {
  Tensor y;
  Tensor save_mean;  // per channel batch mean
  Tensor save_var;   // per channel biased batch variance (what the batch was normalised with)
  Tensor relu_mask;  // with a fused ReLU: what backward needs to know where y > 0
};

struct BatchNormGrads {
  Tensor dx, dgamma, dbeta;
};

struct MaxPool2dForward {
  Tensor y;
  // Where each maximum came from, for backward: int64 positions h * W + w within the input
  // plane (reference), or the backend's own workspace in an opaque layout (oneDNN).
  Tensor indices;
};

// Families of ops whose kernels may read tensors in a backend's opaque layout.
enum class OpFamily { Copy, Elementwise, Relu, Conv2d, BatchNorm, Pool2d };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // Whether this backend's kernels of `family` read opaque-layout inputs; when not, the
  // dispatcher converts such inputs with to_strided() first.
  virtual bool accepts_opaque(OpFamily) const { return false; }
  // A contiguous strided copy of an opaque-layout tensor.
  virtual Tensor to_strided(const Tensor& x);

  // Memory. dst and src have equal shapes; copy converts dtypes.
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  // w converted to dtype; a backend may keep the result for as long as w is not written again
  // (its version does not move), as it keeps convolution weights in its kernels' layouts.
  // By default engine::to, computed again each time.
  virtual Tensor weight_converted(const Tensor& w, DType dtype);
  virtual void fill(const Tensor& dst, double value) = 0;

  // Elementwise. binary broadcasts its operands; binary_inplace writes into `self`.
  virtual Tensor unary(UnaryOp op, const Tensor& x) = 0;
  virtual Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) = 0;
  virtual void binary_inplace(BinaryOp op, const Tensor& self, const Tensor& other) = 0;
  virtual Tensor clamp(const Tensor& x, double lo, double hi) = 0;
  virtual Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) = 0;
  virtual Tensor relu_forward(const Tensor& x) = 0;
  virtual Tensor relu_backward(const Tensor& grad_y, const Tensor& y) = 0;
  // relu_backward(g1 + g2, y). This composition is the definition; a backend may fuse it.
  virtual Tensor relu_backward_of_sum(const Tensor& g1, const Tensor& g2, const Tensor& y) {
    return relu_backward(binary(BinaryOp::Add, g1, g2), y);
  }
  // max(a + b, 0) for a and b of one shape (a residual block's join), in one pass where the
  // backend can; its gradient is relu_backward's, to a and b alike.
  virtual Tensor add_relu_forward(const Tensor& a, const Tensor& b) = 0;

  // Reductions over `dims` (sorted, unique) and along one dimension.
  virtual Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                        bool keepdim) = 0;
  virtual Tensor arg_reduce(ArgReduceOp op, const Tensor& x, int64_t dim, bool keepdim) = 0;

  // [m,k] x [k,n], or batched [b,m,k] x [b,k,n].
  virtual Tensor matmul(const Tensor& a, const Tensor& b) = 0;

  virtual Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                                Conv2dOptions o) = 0;
  virtual Tensor conv2d_backward_data(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                                      Conv2dOptions o) = 0;
  virtual Tensor conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Shape& w_shape,
                                        Conv2dOptions o) = 0;

  // Batch norm over every dimension but 1 ([N,C] or [N,C,H,W]). gamma/beta and the running
  // statistics may be undefined; when defined, training updates the running statistics.
  // With relu, y = max(batch_norm(x), 0) in the same pass (batch_norm_relu), and backward
  // takes the forward's relu_mask.
  virtual BatchNormForward batch_norm_forward_train(const Tensor& x, const Tensor& gamma,
                                                    const Tensor& beta, const Tensor& running_mean,
                                                    const Tensor& running_var, double momentum,
                                                    double eps, bool relu) = 0;
  // max(batch_norm(x) + residual, 0) for a residual of x's shape: a residual block's join
  // (batch_norm_add_relu). This composition is the definition; a backend may fuse it. No
  // relu_mask: backward reads where y > 0 from y, as add_relu's does.
  virtual BatchNormForward batch_norm_add_relu_forward_train(
      const Tensor& x, const Tensor& residual, const Tensor& gamma, const Tensor& beta,
      const Tensor& running_mean, const Tensor& running_var, double momentum, double eps) {
    BatchNormForward out = batch_norm_forward_train(x, gamma, beta, running_mean, running_var,
                                                    momentum, eps, /*relu=*/false);
    out.y = add_relu_forward(out.y, residual);
    return out;
  }
  virtual Tensor batch_norm_forward_infer(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                          const Tensor& running_mean, const Tensor& running_var,
                                          double eps, bool relu) = 0;
  virtual BatchNormGrads batch_norm_backward(const Tensor& grad_y, const Tensor& x,
                                             const Tensor& gamma, const Tensor& save_mean,
                                             const Tensor& save_var, double eps,
                                             const Tensor& relu_mask) = 0;

  virtual MaxPool2dForward max_pool2d_forward(const Tensor& x, Pool2dOptions o) = 0;
  virtual Tensor max_pool2d_backward(const Tensor& grad_y, const Tensor& indices,
                                     const Shape& x_shape, Pool2dOptions o) = 0;
  // Padding counts towards the divisor (PyTorch's count_include_pad=True).
  virtual Tensor avg_pool2d_forward(const Tensor& x, Pool2dOptions o) = 0;
  virtual Tensor avg_pool2d_backward(const Tensor& grad_y, const Shape& x_shape,
                                     Pool2dOptions o) = 0;

  virtual Tensor log_softmax_forward(const Tensor& x, int64_t dim) = 0;
  virtual Tensor log_softmax_backward(const Tensor& grad_y, const Tensor& y, int64_t dim) = 0;

  virtual Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) = 0;
  virtual Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) = 0;
  // out = self with src added at `index` along dim (self is not modified).
  virtual Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index,
                             const Tensor& src) = 0;
  virtual Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) = 0;

  // One fused optimizer step on contiguous tensors of one shape:
  //   d = (grad + weight_decay * param) * grad_scale;  buf = momentum * buf + d;
  //   param -= lr * (nesterov ? d + momentum * buf : buf).
  // SGD uses grad_scale 1; LARS passes its trust ratio.
  virtual void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                          double lr, double momentum, double weight_decay, bool nesterov,
                          double grad_scale) = 0;
  // BYOL's target update on contiguous tensors of one shape:
  //   target = tau * target + (1 - tau) * online.
  virtual void ema_update(const Tensor& target, const Tensor& online, double tau) = 0;
};

// CUDA devices present (0 without a GPU, a driver, or a CUDA build).
int cuda_device_count();
// Waits until every kernel queued on `device` has finished (nothing to do on the CPU).
void synchronize(Device device);
// The caching allocator's bytes handed out and bytes held from the driver (zero for the CPU).
struct DeviceMemoryStats {
  size_t allocated = 0, reserved = 0;
};
DeviceMemoryStats device_memory_stats(Device device);

// The backend that runs a device's kernels. On the CPU that is the fast backend unless a
// ReferenceKernelsGuard is alive on this thread.
Backend& backend_for(Device device);
Backend& reference_backend();

// Runs every CPU op on this thread through the reference kernels while alive (for oracles,
// float64 gradchecks of whole models, and learners stepping through plain loops).
class ReferenceKernelsGuard {
 public:
  ReferenceKernelsGuard();
  ~ReferenceKernelsGuard();
  ReferenceKernelsGuard(const ReferenceKernelsGuard&) = delete;
  ReferenceKernelsGuard& operator=(const ReferenceKernelsGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace sg
