#pragma once
// Differentiable operations. Each records its backward rule (see autograd/ops/*.cpp, one file
// per family, forward and backward side by side) when grad mode is on and an input requires
// grad. Their non-differentiable kernels are sg::engine:: functions of the same name.
#include <vector>

#include "autograd/node.h"
#include "engine/backend.h"
#include "engine/communicator.h"

namespace sg {

// ---- elementwise (autograd/ops/elementwise.cpp) --------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor sqrt(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor clamp_min(const Tensor& x, double lo);
Tensor relu(const Tensor& x);
// relu(a + b) in one pass, for a and b of one shape (a residual block's join).
Tensor add_relu(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(const Tensor& a, double b);

// ---- reductions (autograd/ops/reduce.cpp) ----------------------------------------------------
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
// Maximum over dims; the gradient is shared equally among tied maxima.
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);

// ---- shape and joining (autograd/ops/shape.cpp) ----------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor view(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor to(const Tensor& x, DType dtype);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);
// detach(x) == x.detach(): same storage, no history. Named here so the stop-gradient reads
// as one word in model code: loss = D(p1, detach(z2)).
Tensor detach(const Tensor& x);

// ---- indexing (autograd/ops/index.cpp) -------------------------------------------------------
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
// The elements of x where mask (broadcast to x, nonzero = selected) is set, as a 1-D tensor.
Tensor masked_select(const Tensor& x, const Tensor& mask);

// ---- linear algebra (autograd/ops/matmul.cpp) ------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b);
// y = x W^T + b, with x [N, in], W [out, in], b [out] (optional).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// The same with its three products (x W^T, dy W, dy^T x) in `products`, as PyTorch's autocast
// runs Linear: for bf16, x, W and dy are rounded to bf16, each product sums in float32 and is
// rounded to bf16; y and the gradients come back in x's and W's dtypes, the bias added after.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, DType products);

// ---- convolution, normalisation, pooling -----------------------------------------------------
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              Conv2dOptions options = {});
// In training, normalises with batch statistics and updates the running ones (if given) in
// place; otherwise uses the running statistics.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum = 0.1, double eps = 1e-5);
// relu(batch_norm(...)) in one kernel pass (what ResNet does after most convolutions).
Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, bool training,
                       double momentum = 0.1, double eps = 1e-5);
// max(batch_norm(x) + residual, 0), residual of x's shape: a residual block's join with its
// last BatchNorm, in one pass over the activations where the backend fuses it.
Tensor batch_norm_add_relu(const Tensor& x, const Tensor& residual, const Tensor& weight,
                           const Tensor& bias, const Tensor& running_mean,
                           const Tensor& running_var, bool training, double momentum = 0.1,
                           double eps = 1e-5);
// Training-mode batch normalisation over the batches of all ranks of `comm` together
// (autograd/ops/sync_batch_norm.cpp): the statistics are those of the global batch, the running
// ones updated from them (variance unbiased over the global count), and backward all-reduces the
// two per-channel sums the input gradient needs. gamma's and beta's gradients stay this rank's
// own (data-parallel averaging sums them). With one rank it equals batch_norm.
Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, Communicator& comm,
                       double momentum = 0.1, double eps = 1e-5, bool relu = false);
Tensor max_pool2d(const Tensor& x, Pool2dOptions options);
Tensor avg_pool2d(const Tensor& x, Pool2dOptions options);
// Global average pooling: [N, C, H, W] -> [N, C, 1, 1].
Tensor adaptive_avg_pool2d(const Tensor& x);

// ---- losses and normalisation (autograd/ops/loss.cpp) ---------------------------------------
Tensor log_softmax(const Tensor& x, int64_t dim);
// Mean negative log-likelihood of int64 class targets [N] under logits [N, C].
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);
// x / max(||x||_2, eps) along dim.
Tensor l2_normalize(const Tensor& x, int64_t dim = 1, double eps = 1e-12);
// <a, b> / (max(||a||, eps) max(||b||, eps)) along dim.
Tensor cosine_similarity(const Tensor& a, const Tensor& b, int64_t dim = 1, double eps = 1e-8);

// ---- in place, for optimizer and EMA updates ---------------------------------------------------
// Refused on a tensor that requires grad while grad mode is on: wrap updates in NoGradGuard.
void add_(const Tensor& self, const Tensor& other);
void sub_(const Tensor& self, const Tensor& other);
void mul_(const Tensor& self, const Tensor& other);
void add_(const Tensor& self, double value);
void mul_(const Tensor& self, double value);
void copy_(const Tensor& dst, const Tensor& src);
void zero_(const Tensor& t);

}  // namespace sg
