#include "data/image_set.h"

#include <algorithm>

namespace sg {

int64_t ImageSet::num_classes() const {
  if (!class_names.empty()) return int64_t(class_names.size());
  int64_t most = -1;
  for (int64_t l : labels) most = std::max(most, l);
  return most + 1;
}

Tensor ImageSet::images_as_float(int64_t first, int64_t count) const {
  SG_CHECK(first >= 0 && count >= 0 && first + count <= size(), "images [", first, ", ",
           first + count, ") out of range for a set of ", size());
  Tensor t = Tensor::empty({count, channels, height, width});
  float* p = t.data<float>();
  const uint8_t* src = pixels.data() + first * image_bytes();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = float(src[i]) / 255.0f;
  return t;
}

}  // namespace sg
