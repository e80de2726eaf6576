// Writes CIFAR-10 binary splits as an image folder (OUT/train/<class>/<n>.png and
// OUT/test/<class>/<n>.png), the layout train_cifar10 --data accepts for users' own images:
// to look at the images, or as a template for arranging one's own dataset.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "data/cifar10.h"
#include "data/png.h"
#include "examples/cli_checks.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

void write_split(const ImageSet& set, const fs::path& dir, int64_t limit) {
  int64_t count = limit > 0 ? std::min(limit, set.size()) : set.size();
  std::vector<uint8_t> rgb(size_t(set.height * set.width * 3));
  int64_t plane = set.height * set.width;
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t* chw = set.pixels.data() + i * set.image_bytes();
    for (int64_t p = 0; p < plane; ++p)
      for (int64_t c = 0; c < 3; ++c) rgb[size_t(p * 3 + c)] = chw[c * plane + p];
    int64_t label = set.labels[size_t(i)];
    fs::path class_dir =
        dir / (set.class_names.empty() ? std::to_string(label) : set.class_names[size_t(label)]);
    fs::create_directories(class_dir);
    char name[32];
    std::snprintf(name, sizeof name, "%05ld.png", long(i));
    write_png((class_dir / name).string(), rgb.data(), set.width, set.height);
  }
  std::printf("wrote %ld images to %s\n", long(count), dir.string().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write CIFAR-10 binary splits as PNG image folders"};
  std::string data = "data/cifar10-sample", out;
  int64_t limit = 0;
  app.add_option("--data", data, "CIFAR-10 binary directory")->check(CLI::ExistingDirectory);
  app.add_option("--out", out, "output directory (train/ and test/ are created in it)")->required();
  app.add_option("--limit", limit, "at most this many images per split (0: all)")
      ->check(cli::non_negative);
  CLI11_PARSE(app, argc, argv);
  try {
    write_split(load_cifar10_train(data), fs::path(out) / "train", limit);
    write_split(load_cifar10_test(data), fs::path(out) / "test", limit);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cifar10_to_folder: %s\n", e.what());
    return 1;
  }
  return 0;
}
