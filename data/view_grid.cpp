#include "data/view_grid.h"

#include <algorithm>
#include <cmath>

#include "data/png.h"

namespace sg {

void write_view_grid(const std::string& png_path, const std::vector<Tensor>& views,
                     const AugmentOptions& o, int64_t max_images) {
  SG_CHECK(!views.empty(), "--dump-views: no views to write");
  int64_t rows = std::min(views[0].shape()[0], max_images), side = views[0].shape()[2];
  constexpr int64_t gap = 2;  // white lines between tiles
  int64_t cols = int64_t(views.size());
  int64_t width = cols * side + (cols + 1) * gap, height = rows * side + (rows + 1) * gap;
  std::vector<uint8_t> rgb(size_t(width * height * 3), 255);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < cols; ++v) {
      const float* img = views[size_t(v)].data<float>() + r * 3 * side * side;
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < side; ++y)
          for (int64_t x = 0; x < side; ++x) {
            float value = img[(c * side + y) * side + x] * o.std[c] + o.mean[c];
            int64_t py = gap + r * (side + gap) + y, px = gap + v * (side + gap) + x;
            rgb[size_t((py * width + px) * 3 + c)] =
                uint8_t(std::clamp(std::lround(255.0f * value), 0L, 255L));
          }
    }
  write_png(png_path, rgb.data(), width, height);
}

}  // namespace sg
