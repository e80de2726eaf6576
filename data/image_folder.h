#pragma once
// Users' own images: DIR/<class>/<image>.{png,jpg,jpeg,bmp}, one sub-folder per class (classes
// in name order, as torchvision's ImageFolder), decoded with stb_image and resized to
// size x size. Errors name the file and say why it could not be read.
#include <string>

#include "data/image_set.h"

namespace sg {

// Decodes in parallel on `threads` threads (0: the kernels' thread count); the result does not
// depend on the thread count.
ImageSet load_image_folder(const std::string& dir, int64_t size, int threads = 0);

// One image file decoded and resized to planar [3, size, size] into `chw`. Refuses images over
// kMaxImagePixels before decoding them (a 2^24 x 2^24 header would ask for petabytes).
inline constexpr int64_t kMaxImagePixels = int64_t(1) << 28;
void load_image_file(const std::string& path, int64_t size, uint8_t* chw);

// Antialiased bilinear resize (a triangle filter widened by the shrink factor, as PIL's
// BILINEAR) of an interleaved 8-bit RGB image to planar [3, size, size].
void resize_rgb(const uint8_t* hwc, int64_t height, int64_t width, int64_t size, uint8_t* chw);

}  // namespace sg
