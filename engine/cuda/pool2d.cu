// CUDA pooling on contiguous NCHW: forward one thread per output; max-pool backward scatters
// each output's gradient to the position forward recorded (atomics: windows may overlap);
// avg-pool backward gathers, per input element, from every window that covers it.
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/kernel_util.cuh"

namespace sg {

using namespace cuda;

namespace {

struct PoolGeometry {
  int64_t planes, h, w, oh, ow, k, s, p;
};

PoolGeometry geometry(const Shape& x, Pool2dOptions o) {
  return {x[0] * x[1],
          x[2],
          x[3],
          (x[2] + 2 * o.padding - o.kernel) / o.stride + 1,
          (x[3] + 2 * o.padding - o.kernel) / o.stride + 1,
          o.kernel,
          o.stride,
          o.padding};
}

template <typename T>
__global__ void max_pool_kernel(T* y, int64_t* indices, const T* x, PoolGeometry g, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    int64_t ox = i % g.ow, oy = (i / g.ow) % g.oh, plane = i / (g.ow * g.oh);
    const T* xp = x + plane * g.h * g.w;
    acc_t<T> best = 0;
    int64_t best_at = -1;
    for (int64_t ky = 0; ky < g.k; ++ky)
      for (int64_t kx = 0; kx < g.k; ++kx) {
        int64_t iy = oy * g.s - g.p + ky, ix = ox * g.s - g.p + kx;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;  // padding never wins
        acc_t<T> v = load(xp + iy * g.w + ix);
        if (best_at < 0 || v > best) best = v, best_at = iy * g.w + ix;
      }
    store(y + i, best);
    indices[i] = best_at;
  }
}

template <typename T>
__global__ void max_pool_backward_kernel(T* dx, const T* dy, const int64_t* indices, PoolGeometry g,
                                         int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    int64_t plane = i / (g.ow * g.oh);
    atomicAdd(dx + plane * g.h * g.w + indices[i], dy[i]);
  }
}

template <typename T>
__global__ void avg_pool_kernel(T* y, const T* x, PoolGeometry g, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    int64_t ox = i % g.ow, oy = (i / g.ow) % g.oh, plane = i / (g.ow * g.oh);
    const T* xp = x + plane * g.h * g.w;
    acc_t<T> sum = 0;
    for (int64_t ky = 0; ky < g.k; ++ky)
      for (int64_t kx = 0; kx < g.k; ++kx) {
        int64_t iy = oy * g.s - g.p + ky, ix = ox * g.s - g.p + kx;
        if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) sum += load(xp + iy * g.w + ix);
      }
    store(y + i, sum / acc_t<T>(g.k * g.k));  // padding counts towards the divisor
  }
}

template <typename T>
__global__ void avg_pool_backward_kernel(T* dx, const T* dy, PoolGeometry g, int64_t n) {
  SG_GRID_STRIDE_LOOP(i, n) {
    int64_t ix = i % g.w, iy = (i / g.w) % g.h, plane = i / (g.w * g.h);
    const T* dyp = dy + plane * g.oh * g.ow;
    acc_t<T> sum = 0;
    // Outputs whose window [o*s - p, o*s - p + k) contains this input position.
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      int64_t y0 = oy * g.s - g.p;
      if (iy < y0 || iy >= y0 + g.k) continue;
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        int64_t x0 = ox * g.s - g.p;
        if (ix >= x0 && ix < x0 + g.k) sum += load(dyp + oy * g.ow + ox);
      }
    }
    store(dx + i, sum / acc_t<T>(g.k * g.k));
  }
}

}  // namespace

MaxPool2dForward CudaBackend::max_pool2d_forward(const Tensor& x_in, Pool2dOptions o) {
  Tensor x = dense(x_in);
  PoolGeometry g = geometry(x.shape(), o);
  Shape out_shape{x.shape()[0], x.shape()[1], g.oh, g.ow};
  MaxPool2dForward out{empty(out_shape, x.dtype()), empty(out_shape, DType::Int64)};
  int64_t n = out.y.numel();
  if (n == 0) return out;
  dispatch_floating(x.dtype(), "max_pool2d", [&]<typename T>() {
    max_pool_kernel<<<blocks_for(n), kThreads, 0, stream_of(x)>>>(
        static_cast<T*>(out.y.raw_data()), static_cast<int64_t*>(out.indices.raw_data()),
        static_cast<const T*>(x.raw_data()), g, n);
  });
  check_launch("max_pool2d");
  return out;
}

Tensor CudaBackend::max_pool2d_backward(const Tensor& grad_y, const Tensor& indices,
                                        const Shape& x_shape, Pool2dOptions o) {
  Tensor dy = dense(grad_y);
  Tensor dx = empty(x_shape, grad_y.dtype());
  fill(dx, 0.0);
  PoolGeometry g = geometry(x_shape, o);
  int64_t n = dy.numel();
  if (n == 0) return dx;
  dispatch_floating(dy.dtype(), "max_pool2d_backward", [&]<typename T>() {
    if constexpr (std::is_same_v<T, __half>) {
      SG_CHECK(false, "max_pool2d_backward: no CUDA kernel for float16");
    } else {
      max_pool_backward_kernel<<<blocks_for(n), kThreads, 0, stream_of(dy)>>>(
          static_cast<T*>(dx.raw_data()), static_cast<const T*>(dy.raw_data()),
          static_cast<const int64_t*>(indices.raw_data()), g, n);
    }
  });
  check_launch("max_pool2d_backward");
  return dx;
}

Tensor CudaBackend::avg_pool2d_forward(const Tensor& x_in, Pool2dOptions o) {
  Tensor x = dense(x_in);
  PoolGeometry g = geometry(x.shape(), o);
  Tensor y = empty({x.shape()[0], x.shape()[1], g.oh, g.ow}, x.dtype());
  int64_t n = y.numel();
  if (n == 0) return y;
  dispatch_floating(x.dtype(), "avg_pool2d", [&]<typename T>() {
    avg_pool_kernel<<<blocks_for(n), kThreads, 0, stream_of(x)>>>(
        static_cast<T*>(y.raw_data()), static_cast<const T*>(x.raw_data()), g, n);
  });
  check_launch("avg_pool2d");
  return y;
}

Tensor CudaBackend::avg_pool2d_backward(const Tensor& grad_y, const Shape& x_shape,
                                        Pool2dOptions o) {
  Tensor dy = dense(grad_y);
  Tensor dx = empty(x_shape, grad_y.dtype());
  PoolGeometry g = geometry(x_shape, o);
  int64_t n = dx.numel();
  if (n == 0) return dx;
  dispatch_floating(dy.dtype(), "avg_pool2d_backward", [&]<typename T>() {
    avg_pool_backward_kernel<<<blocks_for(n), kThreads, 0, stream_of(dy)>>>(
        static_cast<T*>(dx.raw_data()), static_cast<const T*>(dy.raw_data()), g, n);
  });
  check_launch("avg_pool2d_backward");
  return dx;
}

}  // namespace sg
