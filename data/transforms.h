#pragma once
// SSL augmentations with torchvision's semantics, on one image at a time (float32 [3, H, W] in
// [0, 1]). Every random choice comes from the Generator passed in, so a seed reproduces them.
#include <array>

#include "data/cifar10.h"
#include "engine/random.h"

namespace sg {

struct AugmentOptions {
  int64_t size = 32;                        // output side
  double scale_min = 0.2, scale_max = 1.0;  // RandomResizedCrop area fraction
  double ratio_min = 3.0 / 4, ratio_max = 4.0 / 3;
  double flip_p = 0.5;
  double jitter_p = 0.8, brightness = 0.4, contrast = 0.4, saturation = 0.4, hue = 0.1;
  double grayscale_p = 0.2;
  // GaussianBlur, for larger images (SimSiam's CIFAR recipe has none): sigma uniform in
  // [min, max]; kernel 0 picks an odd size near a tenth of the image side.
  double blur_p = 0.0, blur_sigma_min = 0.1, blur_sigma_max = 2.0;
  int64_t blur_kernel = 0;
  std::array<float, 3> mean{0.4914f, 0.4822f, 0.4465f};  // CIFAR-10's own statistics
  std::array<float, 3> std{0.2470f, 0.2435f, 0.2616f};
};

// The crop torchvision's RandomResizedCrop would choose: top, left, height, width.
struct CropBox {
  int64_t top, left, height, width;
};
CropBox random_resized_crop_box(int64_t height, int64_t width, const AugmentOptions& o,
                                Generator& gen);

// Bilinear resize of the box to size x size (pixel centres aligned, as torchvision).
void crop_and_resize(const float* src, int64_t height, int64_t width, CropBox box, int64_t size,
                     float* dst);
void horizontal_flip(float* img, int64_t size);
// ColorJitter: brightness, contrast, saturation, hue in a random order, each factor random.
// The random draws and their application are separate, so another device can apply the same
// draws (data/device_views.h).
struct ColorJitterDraw {
  std::array<int, 4> order{0, 1, 2, 3};     // 0 brightness, 1 contrast, 2 saturation, 3 hue
  std::array<float, 4> factor{1, 1, 1, 0};  // per op; for hue, the shift in turns
};
ColorJitterDraw draw_color_jitter(const AugmentOptions& o, Generator& gen);
void apply_color_jitter(float* img, int64_t size, const ColorJitterDraw& d);
void color_jitter(float* img, int64_t size, const AugmentOptions& o, Generator& gen);
void to_grayscale(float* img, int64_t size);
// torchvision's GaussianBlur: separable kernel of odd size, reflect padding.
void gaussian_blur(float* img, int64_t size, double sigma, int64_t kernel);
int64_t blur_kernel_size(const AugmentOptions& o);
void normalize(float* img, int64_t size, const AugmentOptions& o);

// Every random choice of one view: drawn first, then applied (on the CPU here, or on a GPU).
struct AugmentRecord {
  CropBox crop{};
  bool flipped = false, jittered = false, grayscale = false, blurred = false;
  ColorJitterDraw jitter;
  float blur_sigma = 0;
};
AugmentRecord draw_augment(int64_t height, int64_t width, const AugmentOptions& o, Generator& gen);
// src: float [3, height, width] in [0, 1]; dst: the normalised view [3, size, size].
void apply_augment(const float* src, int64_t height, int64_t width, const AugmentRecord& r,
                   const AugmentOptions& o, float* dst);

// One augmented, normalised view of image `index` of `set`, written to dst [3, size, size].
AugmentRecord augment(const ImageSet& set, int64_t index, const AugmentOptions& o, Generator& gen,
                      float* dst);
// Test-time preprocessing: normalisation only.
void preprocess(const ImageSet& set, int64_t index, const AugmentOptions& o, float* dst);

}  // namespace sg
