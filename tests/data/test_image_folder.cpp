// Image folders (stb_image), the antialiased resize, PNG writing and the --dump-views grid, on
// images the tests write themselves into a temporary directory.
#include <doctest/doctest.h>
#include <stb_image.h>

#include <filesystem>
#include <fstream>

#include "data/dataset.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/png.h"
#include "data/view_grid.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::TempDir;
namespace fs = std::filesystem;

namespace {
void write_solid_png(const std::string& path, int64_t w, int64_t h, uint8_t r, uint8_t g,
                     uint8_t b) {
  std::vector<uint8_t> rgb;
  for (int64_t i = 0; i < w * h; ++i) rgb.insert(rgb.end(), {r, g, b});
  fs::create_directories(fs::path(path).parent_path());
  write_png(path, rgb.data(), w, h);
}
}  // namespace

TEST_CASE("image_folder.classes_labels_and_pixels") {
  TempDir tmp;
  write_solid_png(tmp.file("cat/b.png"), 40, 20, 200, 100, 50);
  write_solid_png(tmp.file("cat/a.png"), 10, 30, 0, 255, 0);
  write_solid_png(tmp.file("dog/x.PNG"), 64, 64, 9, 8, 7);
  std::ofstream(tmp.file("dog/notes.txt")) << "not an image";
  ImageSet set = load_image_folder(tmp.path.string(), 16);
  CHECK(set.class_names == std::vector<std::string>{"cat", "dog"});
  CHECK(set.labels == std::vector<int64_t>{0, 0, 1});  // files in name order: a, b, x
  CHECK((set.height == 16 && set.width == 16 && set.num_classes() == 2));
  REQUIRE(set.pixels.size() == 3 * 3 * 16 * 16);
  // A solid image stays solid at any size: image 0 is a.png (green), image 2 is x.PNG.
  for (int64_t p = 0; p < 256; ++p) {
    REQUIRE(set.pixels[size_t(p)] == 0);
    REQUIRE(set.pixels[size_t(256 + p)] == 255);
    REQUIRE(set.pixels[size_t(2 * 768 + 2 * 256 + p)] == 7);
  }
}

TEST_CASE("image_folder.resize_averages_when_shrinking_and_keeps_same_size") {
  // A 1-pixel checkerboard shrunk 4x must turn mid-gray (a plain bilinear sample would alias).
  int64_t n = 32;
  std::vector<uint8_t> board(size_t(n * n * 3));
  for (int64_t y = 0; y < n; ++y)
    for (int64_t x = 0; x < n; ++x)
      for (int c = 0; c < 3; ++c) board[size_t((y * n + x) * 3 + c)] = (x + y) % 2 ? 255 : 0;
  std::vector<uint8_t> small(3 * 8 * 8);
  resize_rgb(board.data(), n, n, 8, small.data());
  for (uint8_t v : small) REQUIRE(std::abs(int(v) - 128) <= 2);
  std::vector<uint8_t> same(size_t(3 * n * n));
  resize_rgb(board.data(), n, n, n, same.data());
  for (int64_t y = 0; y < n; ++y)
    for (int64_t x = 0; x < n; ++x)
      REQUIRE(same[size_t(y * n + x)] == board[size_t((y * n + x) * 3)]);
}

TEST_CASE("image_folder.errors_name_the_file") {
  TempDir tmp;
  CHECK_THROWS_WITH_AS(load_image_folder(tmp.file("missing"), 32),
                       doctest::Contains("not a directory"), Error);
  CHECK_THROWS_WITH_AS(load_image_folder(tmp.path.string(), 32),
                       doctest::Contains("no class sub-folders"), Error);
  fs::create_directories(tmp.file("empty_class"));
  CHECK_THROWS_WITH_AS(load_image_folder(tmp.path.string(), 32), doctest::Contains("no .png"),
                       Error);
  write_solid_png(tmp.file("cls/good.png"), 8, 8, 1, 2, 3);
  std::ofstream(tmp.file("cls/corrupt.png"), std::ios::binary) << "\x89PNG\r\n garbage";
  CHECK_THROWS_WITH_AS(load_image_folder(tmp.path.string(), 32), doctest::Contains("corrupt.png"),
                       Error);
}

TEST_CASE("image_folder.splits_detect_the_format") {
  TempDir tmp;
  for (std::string split : {"train", "test"}) {
    write_solid_png(tmp.file(split + "/red/1.png"), 20, 20, 255, 0, 0);
    write_solid_png(tmp.file(split + "/blue/1.jpg.png"), 20, 20, 0, 0, 255);
  }
  Splits s = load_splits(tmp.path.string(), 24);
  CHECK(s.format == "image-folder");
  CHECK((s.train.size() == 2 && s.test.size() == 2 && s.train.height == 24));
  CHECK(s.train.class_names == std::vector<std::string>{"blue", "red"});
  // Augmentation and evaluation batches work at the folder's size.
  AugmentOptions o;
  o.size = 24;
  ViewLoader loader(s.train, 2, 2, o, 0);
  loader.start_epoch(1);
  CHECK(loader.next().views[1].shape() == Shape{2, 3, 24, 24});
  CHECK(eval_batch(s.test, 0, 2, o).shape() == Shape{2, 3, 24, 24});
  write_solid_png(tmp.file("test/green/1.png"), 20, 20, 0, 255, 0);
  CHECK_THROWS_WITH_AS(load_splits(tmp.path.string(), 24),
                       doctest::Contains("different class sub-folders"), Error);
  CHECK_THROWS_WITH_AS(load_splits(tmp.file("nowhere"), 24), doctest::Contains("does not exist"),
                       Error);
  CHECK(load_splits(SG_SOURCE_DIR "/data/cifar10-sample", 32).format == "cifar10");
  CHECK_THROWS_WITH_AS(load_splits(SG_SOURCE_DIR "/data/cifar10-sample", 64),
                       doctest::Contains("image size 64"), Error);
}

TEST_CASE("dump_views.grid_png_shows_unnormalised_views") {
  TempDir tmp;
  AugmentOptions o;
  o.size = 4;
  // Two views of 3 images; every pixel of view v of image r holds the normalised value of
  // (r + 1) * 0.1 + v * 0.5 in channel 0.
  std::vector<Tensor> views;
  for (int v = 0; v < 2; ++v) {
    Tensor t = Tensor::zeros({3, 3, 4, 4});
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t p = 0; p < 16; ++p)
          t.data<float>()[(r * 3 + c) * 16 + p] =
              ((c == 0 ? float(r + 1) * 0.1f + float(v) * 0.5f : 0.0f) - o.mean[c]) / o.std[c];
    views.push_back(t);
  }
  write_view_grid(tmp.file("views.png"), views, o);
  int w = 0, h = 0, n = 0;
  uint8_t* png = stbi_load(tmp.file("views.png").c_str(), &w, &h, &n, 3);
  REQUIRE(png != nullptr);
  // 2 tiles across, 3 down, 4 pixels each with 2-pixel gaps.
  CHECK((w == 2 * 4 + 3 * 2 && h == 3 * 4 + 4 * 2));
  auto red = [&](int64_t r, int64_t v) { return int(png[((2 + r * 6) * w + 2 + v * 6) * 3]); };
  CHECK(std::abs(red(0, 0) - 26) <= 1);   // 0.1 of 255, up to rounding
  CHECK(std::abs(red(2, 1) - 204) <= 1);  // 0.3 + 0.5
  CHECK(int(png[0]) == 255);              // gap
  stbi_image_free(png);
  CHECK(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator()) == 1);
}

// Decoding runs on several threads; each file has its own slot, so the set is the same for
// any thread count, and a bad file is still named.
TEST_CASE("image_folder.parallel_decode_is_deterministic") {
  TempDir tmp;
  for (int i = 0; i < 23; ++i) {
    // Built with append: g++ 12 warns (-Wrestrict, falsely) on the chained operator+.
    std::string name = "c";
    name.append(std::to_string(i % 3)).append("/").append(std::to_string(i)).append(".png");
    write_solid_png(tmp.file(name), 8 + i, 9, uint8_t(i * 10), uint8_t(255 - i), uint8_t(i));
  }
  ImageSet one = load_image_folder(tmp.path.string(), 12, 1);
  ImageSet four = load_image_folder(tmp.path.string(), 12, 4);
  CHECK(one.labels == four.labels);
  CHECK(one.pixels == four.pixels);
  std::ofstream(tmp.file("c1/broken.png")) << "not a png";
  CHECK_THROWS_WITH_AS(load_image_folder(tmp.path.string(), 12, 4), doctest::Contains("broken.png"),
                       Error);
}

// A header may claim a size stb_image accepts (its PNG reader takes up to 1 GB decoded) but that
// no training image needs; it is refused by its dimensions before stb_image allocates for it:
// here a valid PNG whose IHDR says 17000 x 17000 pixels (867 MB decoded, over 2^28 pixels).
TEST_CASE("image_folder.refuses_huge_dimensions_before_decoding") {
  TempDir tmp;
  write_solid_png(tmp.file("a/small.png"), 4, 4, 1, 2, 3);
  std::ifstream in(tmp.file("a/small.png"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // IHDR's width and height sit at bytes 16-23 (big-endian).
  for (int k : {16, 20}) {
    bytes[size_t(k)] = 0, bytes[size_t(k + 1)] = 0;
    bytes[size_t(k + 2)] = char(0x42), bytes[size_t(k + 3)] = char(0x68);  // 17000
  }
  std::ofstream(tmp.file("a/huge.png"), std::ios::binary) << bytes;
  std::vector<uint8_t> chw(3 * 8 * 8);
  CHECK_THROWS_WITH_AS(load_image_file(tmp.file("a/huge.png"), 8, chw.data()),
                       doctest::Contains("17000 x 17000 pixels; at most"), Error);
  load_image_file(tmp.file("a/small.png"), 8, chw.data());
  CHECK(chw[0] == 1);
}
