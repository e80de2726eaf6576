// CUDA batch normalisation over every dimension but channel 1, on contiguous [N,C] or
// [N,C,H,W]. The per-channel sums (batch statistics forward, dgamma/dbeta backward) run on a
// grid of (splits x channels) blocks, each summing a run of images of one channel, and a small
// kernel combines each channel's partial sums (engine/cuda/batch_norm_split.h says why and
// how). The running statistics move as in the reference: running = (1 - momentum) running +
// momentum batch, with the unbiased variance. Normalisation (+ the fused ReLU) and dx are flat
// elementwise passes. Statistics and affine parameters are float (double for double inputs),
// whatever x's type; partial sums are combined in double.
#include "engine/cuda/batch_norm_split.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/kernel_util.cuh"

namespace sg {

using namespace cuda;

namespace {

// x viewed as [N, C, HW]; `narrow` when every element index fits 32 bits, so the per-element
// channel lookup divides in 32 bits (several times cheaper than 64 on a GPU).
struct ChannelGeometry {
  int64_t n, c, hw;
  bool narrow;
  __device__ int64_t channel_of(int64_t i) const {
    return narrow ? int64_t(uint32_t(i) / uint32_t(hw) % uint32_t(c)) : (i / hw) % c;
  }
};

ChannelGeometry channel_geometry(const Tensor& x) {
  int64_t hw = 1;
  for (int64_t d = 2; d < x.dim(); ++d) hw *= x.shape()[size_t(d)];
  return {x.shape()[0], x.shape()[1], hw, x.numel() < (int64_t(1) << 31)};
}

ChannelSplit channel_split(const ChannelGeometry& g, int device) {
  SG_CHECK(g.n * g.hw < (int64_t(1) << 31) && g.c <= 65535, "batch_norm on CUDA: ", g.c,
           " channels of ", g.n * g.hw,
           " values each is beyond its kernels' limits (65,535 "
           "channels, 2^31 values per channel)");
  return split_channels(g.n, g.c, g.hw, 4 * int64_t(context(device).multiprocessors));
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

// Calls f(offset) for the offset in x of every element of block (blockIdx.x, blockIdx.y)'s run:
// images [first_image(s), first_image(s + 1)) of channel c, each thread a strided share.
template <typename F>
__device__ void for_each_in_run(const ChannelSplit& sp, F f) {
  int64_t c = blockIdx.y, s = blockIdx.x, first = sp.first_image(s);
  uint32_t hw = uint32_t(sp.hw), total = uint32_t((sp.first_image(s + 1) - first) * sp.hw);
  for (uint32_t i = threadIdx.x; i < total; i += blockDim.x) {
    uint32_t image = i / hw;
    f(((first + image) * sp.c + c) * sp.hw + (i - image * hw));
  }
}

// Block (s, c)'s two sums into its slot of partial [C][splits][2] (thread 0 holds them).
template <typename P>
__device__ void store_partials(P* partial, const ChannelSplit& sp, P a, P b) {
  if (threadIdx.x != 0) return;
  P* out = partial + (blockIdx.y * sp.splits + blockIdx.x) * 2;
  out[0] = a, out[1] = b;
}

// Channel c's two sums over all its blocks, added in double.
template <typename P>
__device__ void sum_partials(const P* partial, const ChannelSplit& sp, int64_t c, double& a,
                             double& b) {
  a = b = 0;
  for (int64_t s = 0; s < sp.splits; ++s) {
    a += double(partial[(c * sp.splits + s) * 2]);
    b += double(partial[(c * sp.splits + s) * 2 + 1]);
  }
}

// Block (s, c): sums of d = x - shift and d^2 over its run, shift = x[0, c, 0].
template <typename T, typename P>
__global__ void stats_partial_kernel(const T* x, ChannelSplit sp, P* partial) {
  __shared__ P shared[kThreads];
  P shift = P(load(x + blockIdx.y * sp.hw)), s1 = 0, s2 = 0;
  for_each_in_run(sp, [&](int64_t at) {
    P d = P(load(x + at)) - shift;
    s1 += d;
    s2 += d * d;
  });
  s1 = block_sum(s1, shared);
  s2 = block_sum(s2, shared);
  store_partials(partial, sp, s1, s2);
}

// One thread per channel: the batch statistics from the partial sums, and the running update.
template <typename T, typename P>
__global__ void stats_finish_kernel(const T* x, ChannelSplit sp, const P* partial, P* save_mean,
                                    P* save_var, P* running_mean, int64_t rm_stride, P* running_var,
                                    int64_t rv_stride, double momentum) {
  int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= sp.c) return;
  double s1, s2;
  sum_partials(partial, sp, c, s1, s2);
  double shift = double(P(load(x + c * sp.hw)));
  ChannelStats<double> st = finish_stats(s1, s2, shift, sp.count());
  save_mean[c] = P(st.mean);
  save_var[c] = P(st.var);
  double m = double(sp.count());
  if (running_mean)
    running_mean[c * rm_stride] =
        P((1 - momentum) * double(running_mean[c * rm_stride]) + momentum * st.mean);
  if (running_var)
    running_var[c * rv_stride] =
        P((1 - momentum) * double(running_var[c * rv_stride]) + momentum * st.var * m / (m - 1));
}

template <typename T, typename P>
__global__ void normalize_kernel(T* y, const T* x, ChannelGeometry g, const P* mean,
                                 int64_t mean_stride, const P* var, int64_t var_stride,
                                 const P* gamma, int64_t gamma_stride, const P* beta,
                                 int64_t beta_stride, double eps, bool relu, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    int64_t c = g.channel_of(i);
    P xhat = (P(load(x + i)) - mean[c * mean_stride]) * rsqrt(var[c * var_stride] + P(eps));
    P out = xhat * (gamma ? gamma[c * gamma_stride] : P(1)) + (beta ? beta[c * beta_stride] : P(0));
    store(y + i, relu && out < P(0) ? P(0) : out);
  }
}

// Block (s, c): sums of dy' and dy' * (x - mean) over its run, dy' = dy masked by the ReLU.
template <typename T, typename P>
__global__ void backward_partial_kernel(const T* dy, const T* x, const T* mask, ChannelSplit sp,
                                        const P* mean, P* partial) {
  __shared__ P shared[kThreads];
  P mu = mean[blockIdx.y], sdy = 0, sdyx = 0;
  for_each_in_run(sp, [&](int64_t at) {
    P d = mask && !(P(load(mask + at)) > P(0)) ? P(0) : P(load(dy + at));
    sdy += d;
    sdyx += d * (P(load(x + at)) - mu);
  });
  sdy = block_sum(sdy, shared);
  sdyx = block_sum(sdyx, shared);
  store_partials(partial, sp, sdy, sdyx);
}

// One thread per channel: dbeta = sum(dy'), dgamma = sum(dy' * xhat).
template <typename P>
__global__ void backward_finish_kernel(ChannelSplit sp, const P* partial, const P* var, double eps,
                                       P* dgamma, P* dbeta) {
  int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= sp.c) return;
  double sdy, sdyx;
  sum_partials(partial, sp, c, sdy, sdyx);
  dbeta[c] = P(sdy);
  dgamma[c] = P(sdyx / sqrt(double(var[c]) + eps));
}

// dx = gamma * invstd / m * (m * dy' - dbeta - xhat * dgamma).
template <typename T, typename P>
__global__ void backward_dx_kernel(T* dx, const T* dy, const T* x, const T* mask, ChannelGeometry g,
                                   const P* mean, const P* var, double eps, const P* gamma,
                                   int64_t gamma_stride, const P* dgamma, const P* dbeta,
                                   int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    int64_t c = g.channel_of(i);
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
    ChannelSplit sp = channel_split(g, device_);
    Tensor partial = empty({g.c * sp.splits * 2}, pd);
    stats_partial_kernel<<<dim3(unsigned(sp.splits), unsigned(g.c)), kThreads, 0, stream_of(x)>>>(
        static_cast<const T*>(x.raw_data()), sp, static_cast<P*>(partial.raw_data()));
    check_launch("batch_norm partial sums");
    stats_finish_kernel<<<blocks_for(g.c), kThreads, 0, stream_of(x)>>>(
        static_cast<const T*>(x.raw_data()), sp, param_ptr<P>(partial),
        static_cast<P*>(out.save_mean.raw_data()), static_cast<P*>(out.save_var.raw_data()),
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
    ChannelSplit sp = channel_split(g, device_);
    Tensor partial = empty({g.c * sp.splits * 2}, pd);
    backward_partial_kernel<<<dim3(unsigned(sp.splits), unsigned(g.c)), kThreads, 0,
                              stream_of(x)>>>(
        static_cast<const T*>(dy.raw_data()), static_cast<const T*>(x.raw_data()), mask_ptr, sp,
        param_ptr<P>(mean), static_cast<P*>(partial.raw_data()));
    check_launch("batch_norm_backward partial sums");
    backward_finish_kernel<<<blocks_for(g.c), kThreads, 0, stream_of(x)>>>(
        sp, param_ptr<P>(partial), param_ptr<P>(var), eps, static_cast<P*>(out.dgamma.raw_data()),
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
