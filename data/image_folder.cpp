#include "data/image_folder.h"

#include <stb_image.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/parallel.h"

namespace sg {

namespace fs = std::filesystem;

namespace {

// Weights of each output position over the input positions of one axis.
struct AxisFilter {
  std::vector<int64_t> first;  // first input index per output
  std::vector<std::vector<float>> weights;
};

AxisFilter triangle_filter(int64_t in, int64_t out) {
  double scale = double(in) / double(out), support = std::max(1.0, scale);
  AxisFilter f;
  for (int64_t o = 0; o < out; ++o) {
    double centre = (double(o) + 0.5) * scale;
    auto lo = std::max<int64_t>(0, int64_t(std::floor(centre - support)));
    auto hi = std::min<int64_t>(in, int64_t(std::ceil(centre + support)));
    std::vector<float> w;
    double total = 0;
    for (int64_t i = lo; i < hi; ++i) {
      double t = std::max(0.0, 1.0 - std::abs((double(i) + 0.5 - centre) / support));
      w.push_back(float(t));
      total += t;
    }
    for (float& x : w) x = float(x / total);
    f.first.push_back(lo);
    f.weights.push_back(std::move(w));
  }
  return f;
}

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

std::vector<fs::path> sorted_entries(const fs::path& dir, bool directories) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (directories ? e.is_directory() : (e.is_regular_file() && is_image_file(e.path())))
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

void resize_rgb(const uint8_t* hwc, int64_t height, int64_t width, int64_t size, uint8_t* chw) {
  AxisFilter fy = triangle_filter(height, size), fx = triangle_filter(width, size);
  // Horizontal pass into [height, size, 3] floats, then vertical into the planar output.
  std::vector<float> rows(height * size * 3);
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < size; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        float acc = 0;
        for (size_t k = 0; k < fx.weights[x].size(); ++k)
          acc += fx.weights[x][k] * float(hwc[(y * width + fx.first[x] + int64_t(k)) * 3 + c]);
        rows[(y * size + x) * 3 + c] = acc;
      }
  for (int64_t y = 0; y < size; ++y)
    for (int64_t x = 0; x < size; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        float acc = 0;
        for (size_t k = 0; k < fy.weights[y].size(); ++k)
          acc += fy.weights[y][k] * rows[((fy.first[y] + int64_t(k)) * size + x) * 3 + c];
        chw[(c * size + y) * size + x] = uint8_t(std::clamp(std::lround(acc), 0L, 255L));
      }
}

void load_image_file(const std::string& path, int64_t size, uint8_t* chw) {
  int w = 0, h = 0, n = 0;
  SG_CHECK(stbi_info(path.c_str(), &w, &h, &n), "cannot read image '", path,
           "': ", stbi_failure_reason());
  SG_CHECK(w > 0 && h > 0 && int64_t(w) * int64_t(h) <= kMaxImagePixels, "image '", path, "' is ",
           w, " x ", h, " pixels; at most ", kMaxImagePixels, " pixels are read");
  std::unique_ptr<uint8_t, decltype(&stbi_image_free)> img(stbi_load(path.c_str(), &w, &h, &n, 3),
                                                           &stbi_image_free);
  SG_CHECK(img, "cannot read image '", path, "': ", stbi_failure_reason());
  resize_rgb(img.get(), h, w, size, chw);
}

ImageSet load_image_folder(const std::string& dir, int64_t size, int threads) {
  SG_CHECK(size >= 1, "image folder '", dir, "': image size ", size, " must be positive");
  SG_CHECK(fs::is_directory(dir), "image folder '", dir, "' is not a directory");
  ImageSet set;
  set.height = set.width = size;
  std::vector<std::string> files;
  for (const fs::path& class_dir : sorted_entries(dir, true)) {
    int64_t label = int64_t(set.class_names.size());
    set.class_names.push_back(class_dir.filename().string());
    for (const fs::path& file : sorted_entries(class_dir, false)) {
      files.push_back(file.string());
      set.labels.push_back(label);
    }
  }
  SG_CHECK(!set.class_names.empty(), "image folder '", dir,
           "' has no class sub-folders (expected DIR/<class>/<image>.png|jpg)");
  SG_CHECK(!files.empty(), "image folder '", dir, "' has no .png, .jpg, .jpeg or .bmp images");
  // Each file decodes into its own slot, so threads share nothing but the first error.
  set.pixels.resize(files.size() * size_t(set.image_bytes()));
  std::mutex mutex;
  std::string first_error;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < files.size(); i = next++) {
      try {
        load_image_file(files[i], size, set.pixels.data() + i * size_t(set.image_bytes()));
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex);
        if (first_error.empty()) first_error = e.what();
        next = files.size();
      }
    }
  };
  int n = std::max(1, threads > 0 ? threads : num_threads());
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  SG_CHECK(first_error.empty(), first_error);
  return set;
}

}  // namespace sg
