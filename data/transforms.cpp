#include "data/transforms.h"

#include "data/pixel_math.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace sg {

CropBox random_resized_crop_box(int64_t height, int64_t width, const AugmentOptions& o,
                                Generator& gen) {
  double area = double(height * width);
  double log_r0 = std::log(o.ratio_min), log_r1 = std::log(o.ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    double target = area * (o.scale_min + (o.scale_max - o.scale_min) * gen.uniform());
    double aspect = std::exp(log_r0 + (log_r1 - log_r0) * gen.uniform());
    auto w = int64_t(std::lround(std::sqrt(target * aspect)));
    auto h = int64_t(std::lround(std::sqrt(target / aspect)));
    if (w > 0 && h > 0 && w <= width && h <= height)
      return {gen.randint(height - h + 1), gen.randint(width - w + 1), h, w};
  }
  // Fallback, as torchvision: the whole image, cropped to the nearest allowed aspect ratio.
  double in_ratio = double(width) / double(height);
  int64_t w = width, h = height;
  if (in_ratio < o.ratio_min)
    h = int64_t(std::lround(double(w) / o.ratio_min));
  else if (in_ratio > o.ratio_max)
    w = int64_t(std::lround(double(h) * o.ratio_max));
  return {(height - h) / 2, (width - w) / 2, h, w};
}

void crop_and_resize(const float* src, int64_t height, int64_t width, CropBox b, int64_t size,
                     float* dst) {
  double sy = double(b.height) / double(size), sx = double(b.width) / double(size);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < size; ++y) {
      double fy = std::clamp((y + 0.5) * sy - 0.5, 0.0, double(b.height - 1));
      auto y0 = int64_t(fy);
      int64_t y1 = std::min(y0 + 1, b.height - 1);
      double wy = fy - double(y0);
      for (int64_t x = 0; x < size; ++x) {
        double fx = std::clamp((x + 0.5) * sx - 0.5, 0.0, double(b.width - 1));
        auto x0 = int64_t(fx);
        int64_t x1 = std::min(x0 + 1, b.width - 1);
        double wx = fx - double(x0);
        auto at = [&](int64_t yy, int64_t xx) {
          return double(src[(c * height + b.top + yy) * width + b.left + xx]);
        };
        double v = (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) +
                   wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
        dst[(c * size + y) * size + x] = float(v);
      }
    }
}

void horizontal_flip(float* img, int64_t size) {
  for (int64_t row = 0; row < 3 * size; ++row)
    std::reverse(img + row * size, img + (row + 1) * size);
}

namespace {
using pixel::luma;

// out = clamp(f * img + (1 - f) * other, 0, 1); `other` per pixel (gray) or constant (mean).
void blend(float* img, int64_t n, float f, const float* other_per_pixel, float other_constant) {
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < n; ++i) {
      float o = other_per_pixel ? other_per_pixel[i] : other_constant;
      img[c * n + i] = std::clamp(f * img[c * n + i] + (1 - f) * o, 0.0f, 1.0f);
    }
}

void shift_hue(float* img, int64_t n, float shift) {
  for (int64_t i = 0; i < n; ++i) pixel::shift_hue(img[i], img[n + i], img[2 * n + i], shift);
}
}  // namespace

ColorJitterDraw draw_color_jitter(const AugmentOptions& o, Generator& gen) {
  ColorJitterDraw d;
  for (int i = 3; i > 0; --i) std::swap(d.order[i], d.order[gen.randint(i + 1)]);
  const std::array<double, 3> amount{o.brightness, o.contrast, o.saturation};
  for (int op : d.order)
    d.factor[op] = op < 3 ? float(1 - amount[op] + 2 * amount[op] * gen.uniform())
                          : float(-o.hue + 2 * o.hue * gen.uniform());
  return d;
}

void apply_color_jitter(float* img, int64_t size, const ColorJitterDraw& d) {
  int64_t n = size * size;
  std::vector<float> gray(n);
  for (int op : d.order) {
    if (op == 0) {
      blend(img, n, d.factor[0], nullptr, 0.0f);  // brightness: towards black
    } else if (op == 1) {
      double mean = 0;
      for (int64_t i = 0; i < n; ++i) mean += luma(img[i], img[n + i], img[2 * n + i]);
      blend(img, n, d.factor[1], nullptr, float(mean / double(n)));  // towards mean gray
    } else if (op == 2) {
      for (int64_t i = 0; i < n; ++i) gray[i] = luma(img[i], img[n + i], img[2 * n + i]);
      blend(img, n, d.factor[2], gray.data(), 0.0f);  // towards own gray
    } else {
      shift_hue(img, n, d.factor[3]);
    }
  }
}

void color_jitter(float* img, int64_t size, const AugmentOptions& o, Generator& gen) {
  apply_color_jitter(img, size, draw_color_jitter(o, gen));
}

void to_grayscale(float* img, int64_t size) {
  int64_t n = size * size;
  for (int64_t i = 0; i < n; ++i)
    img[i] = img[n + i] = img[2 * n + i] = luma(img[i], img[n + i], img[2 * n + i]);
}

void normalize(float* img, int64_t size, const AugmentOptions& o) {
  int64_t n = size * size;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < n; ++i) img[c * n + i] = (img[c * n + i] - o.mean[c]) / o.std[c];
}

void gaussian_blur(float* img, int64_t size, double sigma, int64_t kernel) {
  SG_CHECK(kernel >= 1 && kernel % 2 == 1, "gaussian_blur: kernel size ", kernel,
           " must be odd and positive");
  int64_t half = kernel / 2;
  std::vector<float> weights(kernel);
  double total = 0;
  for (int64_t k = 0; k < kernel; ++k)
    total += weights[k] = float(std::exp(-0.5 * double((k - half) * (k - half)) / (sigma * sigma)));
  for (float& w : weights) w = float(w / total);
  // Reflect padding (torchvision's): index -1 reads 1, index size reads size - 2.
  auto reflect = [size](int64_t i) {
    if (size == 1) return int64_t(0);
    while (i < 0 || i >= size) i = i < 0 ? -i : 2 * (size - 1) - i;
    return i;
  };
  std::vector<float> row(size), tmp(size * size);
  for (int64_t c = 0; c < 3; ++c) {
    float* plane = img + c * size * size;
    // Separable: horizontal into tmp, then vertical back into the plane.
    for (int64_t y = 0; y < size; ++y)
      for (int64_t x = 0; x < size; ++x) {
        float acc = 0;
        for (int64_t k = 0; k < kernel; ++k)
          acc += weights[k] * plane[y * size + reflect(x + k - half)];
        tmp[y * size + x] = acc;
      }
    for (int64_t x = 0; x < size; ++x) {
      for (int64_t y = 0; y < size; ++y) {
        float acc = 0;
        for (int64_t k = 0; k < kernel; ++k)
          acc += weights[k] * tmp[reflect(y + k - half) * size + x];
        row[y] = acc;
      }
      for (int64_t y = 0; y < size; ++y) plane[y * size + x] = row[y];
    }
  }
}

int64_t blur_kernel_size(const AugmentOptions& o) {
  if (o.blur_kernel > 0) return o.blur_kernel;
  // SimCLR/BYOL: about a tenth of the image side, odd (23 for 224-pixel images).
  int64_t k = std::max<int64_t>(3, int64_t(std::lround(0.1 * double(o.size))));
  return k % 2 == 1 ? k : k + 1;
}

namespace {
std::vector<float> source_image(const ImageSet& set, int64_t index) {
  int64_t n = set.image_bytes();
  std::vector<float> img(n);
  const uint8_t* p = set.pixels.data() + index * n;
  for (int64_t i = 0; i < n; ++i) img[i] = float(p[i]) / 255.0f;
  return img;
}
}  // namespace

AugmentRecord draw_augment(int64_t height, int64_t width, const AugmentOptions& o, Generator& gen) {
  AugmentRecord r;
  r.crop = random_resized_crop_box(height, width, o, gen);
  r.flipped = gen.uniform() < o.flip_p;
  if ((r.jittered = gen.uniform() < o.jitter_p)) r.jitter = draw_color_jitter(o, gen);
  r.grayscale = gen.uniform() < o.grayscale_p;
  // Only draw for blur when it is on, so runs without blur keep their random streams.
  if (o.blur_p > 0 && (r.blurred = gen.uniform() < o.blur_p))
    r.blur_sigma = float(o.blur_sigma_min + (o.blur_sigma_max - o.blur_sigma_min) * gen.uniform());
  return r;
}

void apply_augment(const float* src, int64_t height, int64_t width, const AugmentRecord& r,
                   const AugmentOptions& o, float* dst) {
  crop_and_resize(src, height, width, r.crop, o.size, dst);
  if (r.flipped) horizontal_flip(dst, o.size);
  if (r.jittered) apply_color_jitter(dst, o.size, r.jitter);
  if (r.grayscale) to_grayscale(dst, o.size);
  if (r.blurred) gaussian_blur(dst, o.size, r.blur_sigma, blur_kernel_size(o));
  normalize(dst, o.size, o);
}

AugmentRecord augment(const ImageSet& set, int64_t index, const AugmentOptions& o, Generator& gen,
                      float* dst) {
  std::vector<float> src = source_image(set, index);
  AugmentRecord r = draw_augment(set.height, set.width, o, gen);
  apply_augment(src.data(), set.height, set.width, r, o, dst);
  return r;
}

void preprocess(const ImageSet& set, int64_t index, const AugmentOptions& o, float* dst) {
  SG_CHECK(set.height == set.width, "preprocess: images are ", set.height, "x", set.width,
           ", expected square images");
  std::vector<float> src = source_image(set, index);
  std::copy(src.begin(), src.end(), dst);
  normalize(dst, set.height, o);
}

}  // namespace sg
