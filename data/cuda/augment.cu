// The SSL augmentations as one CUDA kernel: a block per view applies the choices drawn on the
// host (crop + bilinear resize, flip, colour jitter in its drawn order, grayscale, normalise),
// with the same formulas as data/transforms.cpp. Every stage but contrast works pixel by pixel;
// contrast needs the view's mean gray, a block reduction, hence the barriers.
#include "data/device_views.h"
#include "data/pixel_math.h"
#include "engine/cuda/kernel_util.cuh"

namespace sg {

using namespace cuda;

namespace {

struct Normalization {
  float mean[3], std[3];
};

using pixel::luma;
using pixel::shift_hue;
__device__ float clamp01(float v) { return fminf(fmaxf(v, 0.0f), 1.0f); }

__global__ void augment_kernel(const float* images, int64_t height, int64_t width,
                               const int64_t* index, const float* params, int64_t size,
                               Normalization norm, float* out) {
  __shared__ float partial[kThreads];
  const float* pr = params + blockIdx.x * kViewParams;
  const float* src = images + index[blockIdx.x] * 3 * height * width;
  float* dst = out + int64_t(blockIdx.x) * 3 * size * size;
  int64_t n = size * size, top = int64_t(pr[0]), left = int64_t(pr[1]);
  int64_t bh = int64_t(pr[2]), bw = int64_t(pr[3]);
  bool flipped = pr[4] != 0, jittered = pr[5] != 0, gray = pr[14] != 0;
  float sy = float(bh) / float(size), sx = float(bw) / float(size);

  // Crop and resize (pixel centres aligned), reading mirrored columns when flipped.
  for (int64_t p = threadIdx.x; p < n; p += blockDim.x) {
    int64_t y = p / size, x = flipped ? size - 1 - p % size : p % size;
    float fy = fminf(fmaxf((y + 0.5f) * sy - 0.5f, 0.0f), float(bh - 1));
    float fx = fminf(fmaxf((x + 0.5f) * sx - 0.5f, 0.0f), float(bw - 1));
    int64_t y0 = int64_t(fy), x0 = int64_t(fx);
    int64_t y1 = min(y0 + 1, bh - 1), x1 = min(x0 + 1, bw - 1);
    float wy = fy - float(y0), wx = fx - float(x0);
    for (int c = 0; c < 3; ++c) {
      const float* plane = src + (c * height + top) * width + left;
      float v = (1 - wy) * ((1 - wx) * plane[y0 * width + x0] + wx * plane[y0 * width + x1]) +
                wy * ((1 - wx) * plane[y1 * width + x0] + wx * plane[y1 * width + x1]);
      dst[c * n + p] = v;
    }
  }
  if (jittered) {
    for (int k = 0; k < 4; ++k) {
      int op = int(pr[6 + k]);
      float f = pr[10 + op];
      float mean_gray = 0;
      if (op == 1) {  // contrast blends towards the view's mean gray
        __syncthreads();
        float sum = 0;
        for (int64_t p = threadIdx.x; p < n; p += blockDim.x)
          sum += luma(dst[p], dst[n + p], dst[2 * n + p]);
        partial[threadIdx.x] = sum;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s /= 2) {
          if (int(threadIdx.x) < s) partial[threadIdx.x] += partial[threadIdx.x + s];
          __syncthreads();
        }
        mean_gray = partial[0] / float(n);
        __syncthreads();
      }
      for (int64_t p = threadIdx.x; p < n; p += blockDim.x) {
        float r = dst[p], g = dst[n + p], b = dst[2 * n + p];
        if (op == 3) {
          shift_hue(r, g, b, f);
        } else {
          float other = op == 0 ? 0.0f : op == 1 ? mean_gray : luma(r, g, b);
          r = clamp01(f * r + (1 - f) * other);
          g = clamp01(f * g + (1 - f) * other);
          b = clamp01(f * b + (1 - f) * other);
        }
        dst[p] = r, dst[n + p] = g, dst[2 * n + p] = b;
      }
    }
  }
  for (int64_t p = threadIdx.x; p < n; p += blockDim.x) {
    float r = dst[p], g = dst[n + p], b = dst[2 * n + p];
    if (gray) r = g = b = luma(r, g, b);
    dst[p] = (r - norm.mean[0]) / norm.std[0];
    dst[n + p] = (g - norm.mean[1]) / norm.std[1];
    dst[2 * n + p] = (b - norm.mean[2]) / norm.std[2];
  }
}

}  // namespace

void augment_on_device(const Tensor& images, const Tensor& index, const Tensor& params,
                       const AugmentOptions& o, const Tensor& out) {
  SG_CHECK(images.device().is_cuda() && images.is_contiguous() && images.dtype() == DType::Float32,
           "augment_on_device: images must be contiguous float32 on a GPU");
  SG_CHECK(index.device() == images.device() && params.device() == images.device() &&
               out.device() == images.device(),
           "augment_on_device: all tensors must be on ", images.device().str());
  int64_t views = index.numel();
  bool fits = params.shape() == Shape{views, kViewParams} && out.is_contiguous() &&
              out.shape() == Shape{views, 3, o.size, o.size};
  SG_CHECK(fits, "augment_on_device: params ", shape_str(params.shape()), " / out ",
           shape_str(out.shape()), " do not fit ", views, " views of size ", o.size);
  if (views == 0) return;
  Normalization norm;
  for (int c = 0; c < 3; ++c) norm.mean[c] = o.mean[size_t(c)], norm.std[c] = o.std[size_t(c)];
  augment_kernel<<<int(views), kThreads, 0, stream_of(images)>>>(
      static_cast<const float*>(images.raw_data()), images.shape()[2], images.shape()[3],
      static_cast<const int64_t*>(index.raw_data()), static_cast<const float*>(params.raw_data()),
      o.size, norm, static_cast<float*>(out.raw_data()));
  check_launch("augment");
}

}  // namespace sg
