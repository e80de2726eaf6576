// CUDA batch normalisation over every dimension but channel 1, on contiguous [N,C] or
// [N,C,H,W]. One block per channel computes the batch statistics (two passes: mean, then the
// centred sum of squares, which stays accurate where E[x^2] - E[x]^2 would cancel) and moves the
// running statistics as the reference does: running = (1 - momentum) running + momentum batch,
// with the unbiased variance. Normalisation (+ the fused ReLU) is a flat elementwise pass.
// Statistics and affine parameters are float (double for double inputs), whatever x's type.
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/kernel_util.cuh"

namespace sg {

using namespace cuda;

namespace {

// x viewed as [N, C, HW].
struct ChannelGeometry {
  int64_t n, c, hw;
};

ChannelGeometry channel_geometry(const Tensor& x) {
  int64_t hw = 1;
  for (int64_t d = 2; d < x.dim(); ++d) hw *= x.shape()[size_t(d)];
  return {x.shape()[0], x.shape()[1], hw};
}

template <typename A>
__device__ A block_sum(A v, A* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (int(threadIdx.x) < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  A total = shared[0];
  __syncthreads();
  return total;
}

template <typename T, typename P>
__global__ void batch_stats_kernel(const T* x, ChannelGeometry g, P* save_mean, P* save_var,
                                   P* running_mean, int64_t rm_stride, P* running_var,
                                   int64_t rv_stride, double momentum) {
  __shared__ P shared[kThreads];
  int64_t c = blockIdx.x, count = g.n * g.hw;
  P sum = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x)
    sum += P(load(x + ((i / g.hw) * g.c + c) * g.hw + i % g.hw));
  P mean = block_sum(sum, shared) / P(count);
  P sq = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    P d = P(load(x + ((i / g.hw) * g.c + c) * g.hw + i % g.hw)) - mean;
    sq += d * d;
  }
  P var = block_sum(sq, shared) / P(count);
  if (threadIdx.x == 0) {
    save_mean[c] = mean;
    save_var[c] = var;
    if (running_mean)
      running_mean[c * rm_stride] =
          P(1 - momentum) * running_mean[c * rm_stride] + P(momentum) * mean;
    if (running_var)
      running_var[c * rv_stride] = P(1 - momentum) * running_var[c * rv_stride] +
                                   P(momentum) * var * P(count) / P(count - 1);
  }
}

template <typename T, typename P>
__global__ void normalize_kernel(T* y, const T* x, ChannelGeometry g, const P* mean,
                                 int64_t mean_stride, const P* var, int64_t var_stride,
                                 const P* gamma, int64_t gamma_stride, const P* beta,
                                 int64_t beta_stride, double eps, bool relu, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    int64_t c = (i / g.hw) % g.c;
    P xhat = (P(load(x + i)) - mean[c * mean_stride]) * rsqrt(var[c * var_stride] + P(eps));
    P out = xhat * (gamma ? gamma[c * gamma_stride] : P(1)) + (beta ? beta[c * beta_stride] : P(0));
    store(y + i, relu && out < P(0) ? P(0) : out);
  }
}

// Per channel: dbeta = sum(dy'), dgamma = sum(dy' * xhat), dy' = dy masked by the ReLU.
template <typename T, typename P>
__global__ void backward_sums_kernel(const T* dy, const T* x, const T* mask, ChannelGeometry g,
                                     const P* mean, const P* var, double eps, P* dgamma, P* dbeta) {
  __shared__ P shared[kThreads];
  int64_t c = blockIdx.x, count = g.n * g.hw;
  P invstd = rsqrt(var[c] + P(eps)), sdy = 0, sdyx = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    int64_t at = ((i / g.hw) * g.c + c) * g.hw + i % g.hw;
    P d = mask && !(P(load(mask + at)) > P(0)) ? P(0) : P(load(dy + at));
    sdy += d;
    sdyx += d * (P(load(x + at)) - mean[c]) * invstd;
  }
  sdy = block_sum(sdy, shared);
  sdyx = block_sum(sdyx, shared);
  if (threadIdx.x == 0) dbeta[c] = sdy, dgamma[c] = sdyx;
}

// dx = gamma * invstd / m * (m * dy' - dbeta - xhat * dgamma).
template <typename T, typename P>
__global__ void backward_dx_kernel(T* dx, const T* dy, const T* x, const T* mask, ChannelGeometry g,
                                   const P* mean, const P* var, double eps, const P* gamma,
                                   int64_t gamma_stride, const P* dgamma, const P* dbeta,
                                   int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    int64_t c = (i / g.hw) % g.c;
    P m = P(g.n * g.hw), invstd = rsqrt(var[c] + P(eps));
    P d = mask && !(P(load(mask + i)) > P(0)) ? P(0) : P(load(dy + i));
    P xhat = (P(load(x + i)) - mean[c]) * invstd;
    P k = (gamma ? gamma[c * gamma_stride] : P(1)) * invstd / m;
    store(dx + i, k * (m * d - dbeta[c] - xhat * dgamma[c]));
  }
}

template <typename P>
const P* param_ptr(const Tensor& t) {
  return t.defined() ? static_cast<const P*>(t.raw_data()) : nullptr;
}
int64_t param_stride(const Tensor& t) { return t.defined() ? t.strides()[0] : 0; }

DType param_dtype(DType x) { return x == DType::Float64 ? DType::Float64 : DType::Float32; }

void check_param(const Tensor& t, DType x, const char* name) {
  SG_CHECK(!t.defined() || t.dtype() == param_dtype(x), "batch_norm on CUDA: ", name, " is ",
           dtype_name(t.dtype()), ", expected ", dtype_name(param_dtype(x)), " for a ",
           dtype_name(x), " input");
}

void check_params(DType x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var) {
  for (auto [t, name] : {std::pair{&gamma, "weight"},
                         {&beta, "bias"},
                         {&running_mean, "running_mean"},
                         {&running_var, "running_var"}})
    check_param(*t, x, name);
}

}  // namespace

BatchNormForward CudaBackend::batch_norm_forward_train(const Tensor& x_in, const Tensor& gamma,
                                                       const Tensor& beta,
                                                       const Tensor& running_mean,
                                                       const Tensor& running_var, double momentum,
                                                       double eps, bool relu) {
  Tensor x = dense(x_in);
  check_params(x.dtype(), gamma, beta, running_mean, running_var);
  ChannelGeometry g = channel_geometry(x);
  DType pd = param_dtype(x.dtype());
  BatchNormForward out{empty(x.shape(), x.dtype()), empty({g.c}, pd), empty({g.c}, pd), Tensor()};
  dispatch_floating(x.dtype(), "batch_norm", [&]<typename T>() {
    using P = param_t<T>;
    batch_stats_kernel<<<int(g.c), kThreads, 0, stream_of(x)>>>(
        static_cast<const T*>(x.raw_data()), g, static_cast<P*>(out.save_mean.raw_data()),
        static_cast<P*>(out.save_var.raw_data()),
        running_mean.defined() ? static_cast<P*>(running_mean.raw_data()) : nullptr,
        param_stride(running_mean),
        running_var.defined() ? static_cast<P*>(running_var.raw_data()) : nullptr,
        param_stride(running_var), momentum);
    check_launch("batch_norm statistics");
    normalize_kernel<<<blocks_for(x.numel()), kThreads, 0, stream_of(x)>>>(
        static_cast<T*>(out.y.raw_data()), static_cast<const T*>(x.raw_data()), g,
        param_ptr<P>(out.save_mean), 1, param_ptr<P>(out.save_var), 1, param_ptr<P>(gamma),
        param_stride(gamma), param_ptr<P>(beta), param_stride(beta), eps, relu, x.numel());
    check_launch("batch_norm normalize");
  });
  if (relu) out.relu_mask = out.y;  // y > 0 exactly where the ReLU passed its input
  return out;
}

Tensor CudaBackend::batch_norm_forward_infer(const Tensor& x_in, const Tensor& gamma,
                                             const Tensor& beta, const Tensor& running_mean,
                                             const Tensor& running_var, double eps, bool relu) {
  Tensor x = dense(x_in);
  check_params(x.dtype(), gamma, beta, running_mean, running_var);
  ChannelGeometry g = channel_geometry(x);
  Tensor y = empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), "batch_norm", [&]<typename T>() {
    using P = param_t<T>;
    normalize_kernel<<<blocks_for(x.numel()), kThreads, 0, stream_of(x)>>>(
        static_cast<T*>(y.raw_data()), static_cast<const T*>(x.raw_data()), g,
        param_ptr<P>(running_mean), param_stride(running_mean), param_ptr<P>(running_var),
        param_stride(running_var), param_ptr<P>(gamma), param_stride(gamma), param_ptr<P>(beta),
        param_stride(beta), eps, relu, x.numel());
  });
  check_launch("batch_norm inference");
  return y;
}

BatchNormGrads CudaBackend::batch_norm_backward(const Tensor& grad_y, const Tensor& x_in,
                                                const Tensor& gamma, const Tensor& save_mean,
                                                const Tensor& save_var, double eps,
                                                const Tensor& relu_mask) {
  Tensor x = dense(x_in), dy = dense(grad_y), mask = dense(relu_mask);
  Tensor mean = dense(save_mean), var = dense(save_var);
  check_param(gamma, x.dtype(), "weight");
  ChannelGeometry g = channel_geometry(x);
  DType pd = param_dtype(x.dtype());
  BatchNormGrads out{empty(x.shape(), x.dtype()), empty({g.c}, pd), empty({g.c}, pd)};
  dispatch_floating(x.dtype(), "batch_norm_backward", [&]<typename T>() {
    using P = param_t<T>;
    const T* mask_ptr = mask.defined() ? static_cast<const T*>(mask.raw_data()) : nullptr;
    backward_sums_kernel<<<int(g.c), kThreads, 0, stream_of(x)>>>(
        static_cast<const T*>(dy.raw_data()), static_cast<const T*>(x.raw_data()), mask_ptr, g,
        param_ptr<P>(mean), param_ptr<P>(var), eps, static_cast<P*>(out.dgamma.raw_data()),
        static_cast<P*>(out.dbeta.raw_data()));
    check_launch("batch_norm_backward sums");
    backward_dx_kernel<<<blocks_for(x.numel()), kThreads, 0, stream_of(x)>>>(
        static_cast<T*>(out.dx.raw_data()), static_cast<const T*>(dy.raw_data()),
        static_cast<const T*>(x.raw_data()), mask_ptr, g, param_ptr<P>(mean), param_ptr<P>(var),
        eps, param_ptr<P>(gamma), param_stride(gamma), param_ptr<P>(out.dgamma),
        param_ptr<P>(out.dbeta), x.numel());
    check_launch("batch_norm_backward dx");
  });
  return out;
}

}  // namespace sg
