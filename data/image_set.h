#pragma once
// A labelled set of RGB images of one size, as 8-bit planes: what CIFAR-10 files hold and what an
// image folder is resized to.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sg {

struct ImageSet {
  int64_t channels = 3, height = 32, width = 32;
  std::vector<uint8_t> pixels;  // N x 3 x height x width (planar, row-major)
  std::vector<int64_t> labels;
  std::vector<std::string> class_names;
  int64_t size() const { return int64_t(labels.size()); }
  int64_t image_bytes() const { return channels * height * width; }
  // Named classes, or (for files without names) one more than the largest label.
  int64_t num_classes() const;
  // Images [i, i+count) as float32 [count, 3, height, width] in [0, 1].
  Tensor images_as_float(int64_t first, int64_t count) const;
};

}  // namespace sg
