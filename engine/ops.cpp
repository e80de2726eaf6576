// Validation and dispatch for the raw ops: each checks what its kernels assume, then calls the
// backend of its inputs' device.
#include "engine/ops.h"

#include "engine/profile.h"

#include <algorithm>
#include <set>

namespace sg::engine {

namespace {

Backend& backend(const Tensor& t) { return backend_for(t.device()); }

// What a kernel of `family` may be handed: an opaque-layout input only when its backend reads
// that layout, otherwise the input converted to strided.
Tensor readable(const Tensor& t, OpFamily family) {
  if (!t.defined() || t.is_strided() || backend(t).accepts_opaque(family)) return t;
  return to_strided(t);
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  SG_CHECK(a.device() == b.device(), op, ": tensors on different devices (", a.device().str(),
           " and ", b.device().str(), ")");
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  SG_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ (", dtype_name(a.dtype()), " and ",
           dtype_name(b.dtype()), ")");
}

void check_floating(const char* op, const Tensor& t) {
  SG_CHECK(is_floating(t.dtype()), op, ": expected a floating-point tensor, got ",
           dtype_name(t.dtype()));
}

void check_index(const char* op, const Tensor& index) {
  SG_CHECK(index.dtype() == DType::Int64, op, ": index must be int64, got ",
           dtype_name(index.dtype()));
}

// Mixed precision: bfloat16 activations run with float32 parameters and statistics.
bool mixed_precision_pair(const Tensor& activation, const Tensor& param) {
  return activation.dtype() == DType::BFloat16 && param.dtype() == DType::Float32;
}

void check_channel_vector(const char* op, const char* what, const Tensor& t, int64_t channels,
                          const Tensor& x) {
  if (!t.defined()) return;
  SG_CHECK(t.dim() == 1 && t.shape()[0] == channels, op, ": ", what, " has shape ",
           shape_str(t.shape()), ", expected [", channels, "]");
  if (!mixed_precision_pair(x, t)) check_same_dtype(op, t, x);
  check_same_device(op, t, x);
}

std::vector<int64_t> normalize_dims(std::vector<int64_t> dims, int64_t rank) {
  for (auto& d : dims) d = wrap_dim(d, rank);
  std::sort(dims.begin(), dims.end());
  SG_CHECK(std::adjacent_find(dims.begin(), dims.end()) == dims.end(),
           "repeated reduction dimension");
  return dims;
}

}  // namespace

// ---- memory -------------------------------------------------------------------------------
void copy_(const Tensor& dst, const Tensor& src) {
  KernelTimer timer(OpKind::Copy);
  check_same_device("copy_", dst, src);
  Tensor s = src.shape() == dst.shape() ? readable(src, OpFamily::Copy) : expand(src, dst.shape());
  backend(dst).copy(readable(dst, OpFamily::Copy), s);
  dst.bump_version();
}

void fill_(const Tensor& dst, double value) {
  KernelTimer timer(OpKind::Copy);
  backend(dst).fill(dst, value);
  dst.bump_version();
}

Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : clone(x); }

Tensor clone(const Tensor& x) {
  KernelTimer timer(OpKind::Copy);
  if (!x.is_strided()) return to_strided(x);  // a fresh copy already
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend(x).copy(out, x);
  return out;
}

Tensor to_strided(const Tensor& x) {
  KernelTimer timer(OpKind::Copy);
  return !x.defined() || x.is_strided() ? x : backend(x).to_strided(x);
}

Tensor to(const Tensor& x, DType dtype) {
  KernelTimer timer(OpKind::Copy);
  if (x.dtype() == dtype) return x;
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  backend(x).copy(out, to_strided(x));
  return out;
}

Tensor weight_to(const Tensor& w, DType dtype) {
  KernelTimer timer(OpKind::Copy);
  if (w.dtype() == dtype) return w;
  return backend(w).weight_converted(w, dtype);
}

#ifdef SG_WITH_CUDA
Tensor copy_between_devices(const Tensor& x, Device device);  // engine/cuda/copy.cpp
#endif

Tensor to(const Tensor& x, Device device) {
  if (x.device() == device) return x;
#ifdef SG_WITH_CUDA
  return copy_between_devices(x, device);
#else
  SG_CHECK(false, "cannot move a tensor to ", device.str(), ": stopgrad was built without CUDA");
#endif
}

// ---- elementwise --------------------------------------------------------------------------
namespace {
// bfloat16 math that the backends have no native kernel for runs widened to float32.
bool is_bf16(const Tensor& t) { return t.defined() && t.dtype() == DType::BFloat16; }
Tensor widen(const Tensor& t) { return is_bf16(t) ? to(t, DType::Float32) : t; }
Tensor narrow_bf16(const Tensor& t) { return to(t, DType::BFloat16); }
bool native_bf16_binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         (op == BinaryOp::Add || op == BinaryOp::Sub || op == BinaryOp::Mul);
}
}  // namespace

Tensor unary(UnaryOp op, const Tensor& x) {
  KernelTimer timer(OpKind::Elementwise);
  check_floating("unary op", x);
  if (is_bf16(x)) return narrow_bf16(unary(op, widen(x)));
  return backend(x).unary(op, readable(x, OpFamily::Elementwise));
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  KernelTimer timer(OpKind::Elementwise);
  check_same_device("binary op", a, b);
  check_same_dtype("binary op", a, b);
  broadcast_shapes(a.shape(), b.shape());  // throws naming both shapes
  if (is_bf16(a) && !native_bf16_binary(op, a, b))
    return narrow_bf16(binary(op, widen(a), widen(b)));
  return backend(a).binary(op, readable(a, OpFamily::Elementwise),
                           readable(b, OpFamily::Elementwise));
}

Tensor binary(BinaryOp op, const Tensor& a, double b) {
  return binary(op, a, Tensor::scalar(b, a.dtype(), a.device()));
}

Tensor neg(const Tensor& x) { return unary(UnaryOp::Neg, x); }
Tensor exp(const Tensor& x) { return unary(UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::Log, x); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::Sqrt, x); }
Tensor abs(const Tensor& x) { return unary(UnaryOp::Abs, x); }
Tensor sign(const Tensor& x) { return unary(UnaryOp::Sign, x); }
Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Pow, a, b); }
Tensor add(const Tensor& a, double b) { return binary(BinaryOp::Add, a, b); }
Tensor mul(const Tensor& a, double b) { return binary(BinaryOp::Mul, a, b); }
Tensor pow(const Tensor& a, double b) { return binary(BinaryOp::Pow, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Minimum, a, b); }
Tensor gt(const Tensor& a, double b) { return binary(BinaryOp::Greater, a, b); }
Tensor lt(const Tensor& a, double b) { return binary(BinaryOp::Less, a, b); }
Tensor ge(const Tensor& a, double b) { return binary(BinaryOp::GreaterEqual, a, b); }
Tensor le(const Tensor& a, double b) { return binary(BinaryOp::LessEqual, a, b); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Equal, a, b); }

Tensor clamp(const Tensor& x, double lo, double hi) {
  KernelTimer timer(OpKind::Elementwise);
  check_floating("clamp", x);
  SG_CHECK(lo <= hi, "clamp: lower bound ", lo, " exceeds upper bound ", hi);
  if (is_bf16(x)) return narrow_bf16(clamp(widen(x), lo, hi));
  return backend(x).clamp(to_strided(x), lo, hi);
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  KernelTimer timer(OpKind::Elementwise);
  check_same_device("where", cond, a);
  check_same_device("where", a, b);
  check_same_dtype("where", a, b);
  check_same_dtype("where", cond, a);
  broadcast_shapes(broadcast_shapes(cond.shape(), a.shape()), b.shape());
  if (is_bf16(a)) return narrow_bf16(where(widen(cond), widen(a), widen(b)));
  return backend(a).where(to_strided(cond), to_strided(a), to_strided(b));
}

Tensor relu_forward(const Tensor& x) {
  KernelTimer timer(OpKind::Elementwise);
  check_floating("relu", x);
  return backend(x).relu_forward(readable(x, OpFamily::Relu));
}

Tensor relu_backward(const Tensor& grad_y, const Tensor& y) {
  KernelTimer timer(OpKind::Elementwise);
  SG_CHECK(grad_y.shape() == y.shape(), "relu_backward: gradient shape ", shape_str(grad_y.shape()),
           " differs from output shape ", shape_str(y.shape()));
  check_same_dtype("relu_backward", grad_y, y);
  return backend(y).relu_backward(readable(grad_y, OpFamily::Relu), readable(y, OpFamily::Relu));
}

Tensor relu_backward_of_sum(const Tensor& g1, const Tensor& g2, const Tensor& y) {
  KernelTimer timer(OpKind::Elementwise);
  SG_CHECK(g1.shape() == y.shape() && g2.shape() == y.shape(), "relu_backward_of_sum: gradients ",
           shape_str(g1.shape()), " and ", shape_str(g2.shape()), " for an output of shape ",
           shape_str(y.shape()));
  check_same_dtype("relu_backward_of_sum", g1, y);
  check_same_dtype("relu_backward_of_sum", g2, y);
  check_same_device("relu_backward_of_sum", g1, y);
  check_same_device("relu_backward_of_sum", g2, y);
  return backend(y).relu_backward_of_sum(readable(g1, OpFamily::Relu), readable(g2, OpFamily::Relu),
                                         readable(y, OpFamily::Relu));
}

Tensor add_relu_forward(const Tensor& a, const Tensor& b) {
  KernelTimer timer(OpKind::Elementwise);
  check_same_device("add_relu", a, b);
  check_same_dtype("add_relu", a, b);
  check_floating("add_relu", a);
  SG_CHECK(a.shape() == b.shape(), "add_relu: shapes ", shape_str(a.shape()), " and ",
           shape_str(b.shape()), " differ (it adds two tensors of one shape, no broadcasting)");
  return backend(a).add_relu_forward(readable(a, OpFamily::Elementwise),
                                     readable(b, OpFamily::Elementwise));
}

void binary_(BinaryOp op, const Tensor& self, const Tensor& other) {
  KernelTimer timer(OpKind::Elementwise);
  check_same_device("in-place op", self, other);
  check_same_dtype("in-place op", self, other);
  SG_CHECK(broadcast_shapes(self.shape(), other.shape()) == self.shape(), "in-place op: shape ",
           shape_str(other.shape()), " does not broadcast to ", shape_str(self.shape()));
  if (is_bf16(self) && !native_bf16_binary(op, self, other)) {
    copy_(self, binary(op, self, other));
    return;
  }
  SG_CHECK(self.is_strided() || backend(self).accepts_opaque(OpFamily::Elementwise),
           "in-place op on a tensor in the opaque layout ", self.layout()->name());
  backend(self).binary_inplace(op, self, readable(other, OpFamily::Elementwise));
  self.bump_version();
}
void add_(const Tensor& self, const Tensor& other) { binary_(BinaryOp::Add, self, other); }
void sub_(const Tensor& self, const Tensor& other) { binary_(BinaryOp::Sub, self, other); }
void mul_(const Tensor& self, const Tensor& other) { binary_(BinaryOp::Mul, self, other); }
void add_(const Tensor& self, double value) {
  binary_(BinaryOp::Add, self, Tensor::scalar(value, self.dtype(), self.device()));
}
void mul_(const Tensor& self, double value) {
  binary_(BinaryOp::Mul, self, Tensor::scalar(value, self.dtype(), self.device()));
}

// ---- reductions ---------------------------------------------------------------------------
Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  KernelTimer timer(OpKind::Reduce);
  check_floating("reduce", x);
  // Reductions accumulate in float32 at least: bfloat16 inputs are widened first.
  Tensor in = x.dtype() == DType::BFloat16 ? to(to_strided(x), DType::Float32) : to_strided(x);
  Tensor out = backend(x).reduce(op, in, normalize_dims(std::move(dims), x.dim()), keepdim);
  return x.dtype() == DType::BFloat16 ? to(out, DType::BFloat16) : out;
}

namespace {
std::vector<int64_t> all_dims(const Tensor& x) {
  std::vector<int64_t> dims(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) dims[i] = i;
  return dims;
}
}  // namespace

Tensor sum(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  return reduce(ReduceOp::Sum, x, std::move(dims), keepdim);
}
Tensor sum(const Tensor& x) { return reduce(ReduceOp::Sum, x, all_dims(x), false); }
Tensor mean(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  return reduce(ReduceOp::Mean, x, std::move(dims), keepdim);
}
Tensor mean(const Tensor& x) { return reduce(ReduceOp::Mean, x, all_dims(x), false); }
Tensor amax(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  return reduce(ReduceOp::Max, x, std::move(dims), keepdim);
}
Tensor amin(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  return reduce(ReduceOp::Min, x, std::move(dims), keepdim);
}

Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  KernelTimer timer(OpKind::Reduce);
  check_floating("argmin", x);
  SG_CHECK(x.dim() > 0 && x.size(dim) > 0, "argmin of an empty dimension");
  return backend(x).arg_reduce(ArgReduceOp::Argmin, to_strided(x), wrap_dim(dim, x.dim()), keepdim);
}
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  KernelTimer timer(OpKind::Reduce);
  check_floating("argmax", x);
  SG_CHECK(x.dim() > 0 && x.size(dim) > 0, "argmax of an empty dimension");
  return backend(x).arg_reduce(ArgReduceOp::Argmax, to_strided(x), wrap_dim(dim, x.dim()), keepdim);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  SG_CHECK(broadcast_shapes(shape, x.shape()) == x.shape(), "sum_to: ", shape_str(x.shape()),
           " is not a broadcast of ", shape_str(shape));
  size_t lead = x.shape().size() - shape.size();
  std::vector<int64_t> dims;
  for (size_t i = 0; i < x.shape().size(); ++i)
    if (i < lead || (shape[i - lead] == 1 && x.shape()[i] != 1)) dims.push_back(int64_t(i));
  Tensor summed = sum(x, dims, /*keepdim=*/true);
  return reshape(summed, shape);
}

// ---- linear algebra -----------------------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b) {
  KernelTimer timer(OpKind::Matmul);
  check_same_device("matmul", a, b);
  check_same_dtype("matmul", a, b);
  check_floating("matmul", a);
  bool ok = (a.dim() == 2 && b.dim() == 2 && a.shape()[1] == b.shape()[0]) ||
            (a.dim() == 3 && b.dim() == 3 && a.shape()[0] == b.shape()[0] &&
             a.shape()[2] == b.shape()[1]);
  SG_CHECK(ok, "matmul: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
           " do not multiply ([m,k]x[k,n] or [b,m,k]x[b,k,n])");
  return backend(a).matmul(to_strided(a), to_strided(b));
}

// ---- convolution ---------------------------------------------------------------------------
Shape conv2d_output_shape(const Shape& x, const Shape& w, Conv2dOptions o) {
  SG_CHECK(x.size() == 4, "conv2d: input must be [N,C,H,W], got ", shape_str(x));
  SG_CHECK(w.size() == 4, "conv2d: weight must be [O,C,kH,kW], got ", shape_str(w));
  SG_CHECK(x[1] == w[1], "conv2d: input has ", x[1], " channels but weight ", shape_str(w),
           " expects ", w[1]);
  SG_CHECK(o.stride >= 1 && o.padding >= 0, "conv2d: stride ", o.stride, " / padding ", o.padding,
           " invalid");
  int64_t oh = (x[2] + 2 * o.padding - w[2]) / o.stride + 1;
  int64_t ow = (x[3] + 2 * o.padding - w[3]) / o.stride + 1;
  SG_CHECK(oh > 0 && ow > 0, "conv2d: kernel ", shape_str(w), " larger than padded input ",
           shape_str(x));
  return {x[0], w[0], oh, ow};
}

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Conv2dOptions o) {
  KernelTimer timer(OpKind::Conv);
  check_same_device("conv2d", x, w);
  if (!mixed_precision_pair(x, w)) check_same_dtype("conv2d", x, w);
  conv2d_output_shape(x.shape(), w.shape(), o);
  check_channel_vector("conv2d", "bias", bias, w.shape()[0], w);
  return backend(x).conv2d_forward(readable(x, OpFamily::Conv2d), readable(w, OpFamily::Conv2d),
                                   to_strided(bias), o);
}

Tensor conv2d_backward_data(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                            Conv2dOptions o) {
  KernelTimer timer(OpKind::Conv);
  SG_CHECK(grad_y.shape() == conv2d_output_shape(x_shape, w.shape(), o),
           "conv2d_backward_data: gradient shape ", shape_str(grad_y.shape()), " expected ",
           shape_str(conv2d_output_shape(x_shape, w.shape(), o)));
  if (!mixed_precision_pair(grad_y, w)) check_same_dtype("conv2d_backward_data", grad_y, w);
  return backend(w).conv2d_backward_data(readable(grad_y, OpFamily::Conv2d),
                                         readable(w, OpFamily::Conv2d), x_shape, o);
}

Tensor conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Shape& w_shape,
                              Conv2dOptions o) {
  KernelTimer timer(OpKind::Conv);
  SG_CHECK(grad_y.shape() == conv2d_output_shape(x.shape(), w_shape, o),
           "conv2d_backward_weight: gradient shape ", shape_str(grad_y.shape()), " expected ",
           shape_str(conv2d_output_shape(x.shape(), w_shape, o)));
  check_same_dtype("conv2d_backward_weight", grad_y, x);
  return backend(x).conv2d_backward_weight(readable(grad_y, OpFamily::Conv2d),
                                           readable(x, OpFamily::Conv2d), w_shape, o);
}

// ---- batch norm -----------------------------------------------------------------------------
namespace {
void check_batch_norm_input(const char* op, const Tensor& x) {
  check_floating(op, x);
  SG_CHECK(x.dim() == 2 || x.dim() == 4, op, ": input must be [N,C] or [N,C,H,W], got ",
           shape_str(x.shape()));
}
// Training's inputs: more than one value per channel, and per-channel vectors of C.
void check_batch_norm_training(const char* op, const Tensor& x, const Tensor& gamma,
                               const Tensor& beta, const Tensor& running_mean,
                               const Tensor& running_var) {
  check_batch_norm_input(op, x);
  int64_t c = x.shape()[1];
  SG_CHECK(x.numel() / c > 1, op, ": training needs more than one value per channel, got input ",
           shape_str(x.shape()));
  check_channel_vector(op, "weight", gamma, c, x);
  check_channel_vector(op, "bias", beta, c, x);
  check_channel_vector(op, "running_mean", running_mean, c, x);
  check_channel_vector(op, "running_var", running_var, c, x);
}
}  // namespace

BatchNormForward batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                          const Tensor& running_mean, const Tensor& running_var,
                                          double momentum, double eps, bool relu) {
  KernelTimer timer(OpKind::BatchNorm);
  check_batch_norm_training("batch_norm", x, gamma, beta, running_mean, running_var);
  auto out = backend(x).batch_norm_forward_train(readable(x, OpFamily::BatchNorm), gamma, beta,
                                                 running_mean, running_var, momentum, eps, relu);
  if (running_mean.defined()) running_mean.bump_version();
  if (running_var.defined()) running_var.bump_version();
  return out;
}

BatchNormForward batch_norm_add_relu_forward_train(const Tensor& x, const Tensor& residual,
                                                   const Tensor& gamma, const Tensor& beta,
                                                   const Tensor& running_mean,
                                                   const Tensor& running_var, double momentum,
                                                   double eps) {
  KernelTimer timer(OpKind::BatchNorm);
  check_batch_norm_training("batch_norm_add_relu", x, gamma, beta, running_mean, running_var);
  check_same_device("batch_norm_add_relu", x, residual);
  check_same_dtype("batch_norm_add_relu", x, residual);
  SG_CHECK(residual.shape() == x.shape(), "batch_norm_add_relu: residual ",
           shape_str(residual.shape()), " differs from the input ", shape_str(x.shape()));
  auto out = backend(x).batch_norm_add_relu_forward_train(
      readable(x, OpFamily::BatchNorm), readable(residual, OpFamily::Elementwise), gamma, beta,
      running_mean, running_var, momentum, eps);
  if (running_mean.defined()) running_mean.bump_version();
  if (running_var.defined()) running_var.bump_version();
  return out;
}

Tensor batch_norm_forward_infer(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                const Tensor& running_mean, const Tensor& running_var, double eps,
                                bool relu) {
  KernelTimer timer(OpKind::BatchNorm);
  check_batch_norm_input("batch_norm", x);
  int64_t c = x.shape()[1];
  SG_CHECK(running_mean.defined() && running_var.defined(),
           "batch_norm: inference needs running statistics");
  check_channel_vector("batch_norm", "weight", gamma, c, x);
  check_channel_vector("batch_norm", "bias", beta, c, x);
  check_channel_vector("batch_norm", "running_mean", running_mean, c, x);
  check_channel_vector("batch_norm", "running_var", running_var, c, x);
  return backend(x).batch_norm_forward_infer(readable(x, OpFamily::BatchNorm), gamma, beta,
                                             running_mean, running_var, eps, relu);
}

BatchNormGrads batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                   const Tensor& save_mean, const Tensor& save_var, double eps,
                                   const Tensor& relu_mask) {
  KernelTimer timer(OpKind::BatchNorm);
  SG_CHECK(grad_y.shape() == x.shape(), "batch_norm_backward: gradient ", shape_str(grad_y.shape()),
           " vs input ", shape_str(x.shape()));
  return backend(x).batch_norm_backward(readable(grad_y, OpFamily::BatchNorm),
                                        readable(x, OpFamily::BatchNorm), gamma, save_mean,
                                        save_var, eps, readable(relu_mask, OpFamily::BatchNorm));
}

// ---- pooling ------------------------------------------------------------------------------
Shape pool2d_output_shape(const Shape& x, Pool2dOptions o) {
  SG_CHECK(x.size() == 4, "pool2d: input must be [N,C,H,W], got ", shape_str(x));
  SG_CHECK(o.kernel >= 1 && o.stride >= 1 && o.padding >= 0 && 2 * o.padding <= o.kernel,
           "pool2d: kernel ", o.kernel, " stride ", o.stride, " padding ", o.padding, " invalid");
  int64_t oh = (x[2] + 2 * o.padding - o.kernel) / o.stride + 1;
  int64_t ow = (x[3] + 2 * o.padding - o.kernel) / o.stride + 1;
  SG_CHECK(oh > 0 && ow > 0, "pool2d: kernel ", o.kernel, " larger than padded input ",
           shape_str(x));
  return {x[0], x[1], oh, ow};
}

MaxPool2dForward max_pool2d_forward(const Tensor& x, Pool2dOptions o) {
  KernelTimer timer(OpKind::Pool);
  check_floating("max_pool2d", x);
  pool2d_output_shape(x.shape(), o);
  return backend(x).max_pool2d_forward(readable(x, OpFamily::Pool2d), o);
}

Tensor max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, const Shape& x_shape,
                           Pool2dOptions o) {
  KernelTimer timer(OpKind::Pool);
  SG_CHECK(grad_y.shape() == indices.shape(), "max_pool2d_backward: gradient ",
           shape_str(grad_y.shape()), " vs indices ", shape_str(indices.shape()));
  SG_CHECK(grad_y.shape() == pool2d_output_shape(x_shape, o), "max_pool2d_backward: gradient ",
           shape_str(grad_y.shape()), " expected ", shape_str(pool2d_output_shape(x_shape, o)));
  return backend(grad_y).max_pool2d_backward(readable(grad_y, OpFamily::Pool2d), indices, x_shape,
                                             o);
}

Tensor avg_pool2d_forward(const Tensor& x, Pool2dOptions o) {
  KernelTimer timer(OpKind::Pool);
  check_floating("avg_pool2d", x);
  pool2d_output_shape(x.shape(), o);
  return backend(x).avg_pool2d_forward(readable(x, OpFamily::Pool2d), o);
}

Tensor avg_pool2d_backward(const Tensor& grad_y, const Shape& x_shape, Pool2dOptions o) {
  KernelTimer timer(OpKind::Pool);
  SG_CHECK(grad_y.shape() == pool2d_output_shape(x_shape, o), "avg_pool2d_backward: gradient ",
           shape_str(grad_y.shape()), " expected ", shape_str(pool2d_output_shape(x_shape, o)));
  return backend(grad_y).avg_pool2d_backward(readable(grad_y, OpFamily::Pool2d), x_shape, o);
}

// ---- softmax ------------------------------------------------------------------------------
Tensor log_softmax_forward(const Tensor& x, int64_t dim) {
  KernelTimer timer(OpKind::Other);
  check_floating("log_softmax", x);
  return backend(x).log_softmax_forward(to_strided(x), wrap_dim(dim, x.dim()));
}

Tensor log_softmax_backward(const Tensor& grad_y, const Tensor& y, int64_t dim) {
  KernelTimer timer(OpKind::Other);
  SG_CHECK(grad_y.shape() == y.shape(), "log_softmax_backward: gradient ",
           shape_str(grad_y.shape()), " vs output ", shape_str(y.shape()));
  return backend(y).log_softmax_backward(to_strided(grad_y), to_strided(y), wrap_dim(dim, y.dim()));
}

// ---- indexing -----------------------------------------------------------------------------
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  KernelTimer timer(OpKind::Other);
  check_index("index_select", index);
  check_same_device("index_select", x, index);
  SG_CHECK(index.dim() == 1, "index_select: index must be 1-D, got ", shape_str(index.shape()));
  return backend(x).index_select(to_strided(x), wrap_dim(dim, x.dim()), index);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  KernelTimer timer(OpKind::Other);
  check_index("gather", index);
  check_same_device("gather", x, index);
  SG_CHECK(index.dim() == x.dim(), "gather: index rank ", index.dim(), " differs from input rank ",
           x.dim());
  dim = wrap_dim(dim, x.dim());
  for (int64_t d = 0; d < x.dim(); ++d)
    SG_CHECK(d == dim || index.shape()[d] <= x.shape()[d], "gather: index ",
             shape_str(index.shape()), " too large for input ", shape_str(x.shape()),
             " in dimension ", d);
  return backend(x).gather(to_strided(x), dim, index);
}

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  KernelTimer timer(OpKind::Other);
  check_index("scatter_add", index);
  check_same_dtype("scatter_add", self, src);
  SG_CHECK(index.shape() == src.shape(), "scatter_add: index ", shape_str(index.shape()),
           " and src ", shape_str(src.shape()), " must have the same shape");
  SG_CHECK(index.dim() == self.dim(), "scatter_add: index rank ", index.dim(),
           " differs from self rank ", self.dim());
  dim = wrap_dim(dim, self.dim());
  for (int64_t d = 0; d < self.dim(); ++d)
    SG_CHECK(d == dim || index.shape()[d] <= self.shape()[d], "scatter_add: index ",
             shape_str(index.shape()), " too large for ", shape_str(self.shape()), " in dimension ",
             d);
  return backend(self).scatter_add(to_strided(self), dim, index, to_strided(src));
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  KernelTimer timer(OpKind::Other);
  SG_CHECK(!tensors.empty(), "cat: no tensors given");
  const Tensor& first = tensors.front();
  dim = wrap_dim(dim, first.dim());
  for (size_t i = 1; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_same_dtype("cat", first, t);
    check_same_device("cat", first, t);
    SG_CHECK(t.dim() == first.dim(), "cat: tensor ", i, " has shape ", shape_str(t.shape()),
             ", tensor 0 has ", shape_str(first.shape()));
    for (int64_t d = 0; d < t.dim(); ++d)
      SG_CHECK(d == dim || t.shape()[d] == first.shape()[d], "cat: tensor ", i, " has shape ",
               shape_str(t.shape()), ", tensor 0 has ", shape_str(first.shape()),
               " (only dimension ", dim, " may differ)");
  }
  std::vector<Tensor> strided;
  for (const auto& t : tensors) strided.push_back(to_strided(t));
  return backend(first).cat(strided, dim);
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  SG_CHECK(!tensors.empty(), "stack: no tensors given");
  std::vector<Tensor> expanded;
  for (const auto& t : tensors) {
    SG_CHECK(t.shape() == tensors.front().shape(), "stack: shapes ", shape_str(t.shape()), " and ",
             shape_str(tensors.front().shape()), " differ");
    expanded.push_back(unsqueeze(t, dim));
  }
  return cat(expanded, dim);
}

// ---- optimizer ----------------------------------------------------------------------------
void ema_update(const Tensor& target, const Tensor& online, double tau) {
  KernelTimer timer(OpKind::Optimizer);
  SG_CHECK(target.is_contiguous() && online.is_contiguous() && target.shape() == online.shape() &&
               target.dtype() == online.dtype(),
           "ema_update: target ", shape_str(target.shape()), " and online ",
           shape_str(online.shape()), " must be contiguous tensors of one shape and dtype");
  SG_CHECK(tau >= 0 && tau <= 1, "ema_update: tau must be in [0, 1], got ", tau);
  check_same_device("ema_update", target, online);
  backend(target).ema_update(target, online, tau);
  target.bump_version();
}

void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
                double momentum, double weight_decay, bool nesterov, double grad_scale) {
  KernelTimer timer(OpKind::Optimizer);
  Tensor g = to_strided(grad);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&param, &g, &momentum_buffer}) {
    SG_CHECK(t->is_contiguous() && t->shape() == param.shape() && t->dtype() == param.dtype(),
             "sgd_update: parameter, gradient and momentum buffer must be contiguous with one "
             "shape and dtype; got ",
             shape_str(t->shape()), " ", dtype_name(t->dtype()), " for parameter ",
             shape_str(param.shape()));
    check_same_device("sgd_update", *t, param);
  }
  backend(param).sgd_update(param, g, momentum_buffer, lr, momentum, weight_decay, nesterov,
                            grad_scale);
  param.bump_version();
  momentum_buffer.bump_version();
}

}  // namespace sg::engine
