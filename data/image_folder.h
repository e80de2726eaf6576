#pragma once
// Users' own images: DIR/<class>/<image>.{png,jpg,jpeg,bmp}, one sub-folder per class (classes
// in name order, as torchvision's ImageFolder), decoded with stb_image and resized to
// size x size. Errors name the file and say why it could not be read.
#include <string>

#include "data/image_set.h"

namespace sg {

ImageSet load_image_folder(const std::string& dir, int64_t size);

// Antialiased bilinear resize (a triangle filter widened by the shrink factor, as PIL's
// BILINEAR) of an interleaved 8-bit RGB image to planar [3, size, size].
void resize_rgb(const uint8_t* hwc, int64_t height, int64_t width, int64_t size, uint8_t* chw);

}  // namespace sg
