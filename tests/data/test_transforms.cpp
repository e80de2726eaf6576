// Augmentation statistics against the rates and ranges the transforms promise, and the
// loader's reproducibility.
#include <doctest/doctest.h>

#include <cmath>

#include "data/loader.h"

using namespace sg;

namespace {
ImageSet sample() { return load_cifar10_train(SG_SOURCE_DIR "/data/cifar10-sample"); }
}  // namespace

TEST_CASE("augment.crop_scale_and_ratio") {
  AugmentOptions o;
  Generator gen(1);
  double sum = 0;
  int n = 20000;
  for (int i = 0; i < n; ++i) {
    CropBox b = random_resized_crop_box(32, 32, o, gen);
    double area = double(b.height * b.width) / 1024.0, ratio = double(b.width) / double(b.height);
    CHECK((b.top >= 0 && b.left >= 0 && b.top + b.height <= 32 && b.left + b.width <= 32));
    REQUIRE((area >= 0.17 && area <= 1.0));     // 0.2 up to rounding of the sides
    REQUIRE((ratio >= 0.65 && ratio <= 1.55));  // 3/4..4/3 up to rounding
    sum += area;
  }
  // Uniform on [0.2, 1] would average 0.6; large crops that do not fit are redrawn, pulling it
  // down.
  CHECK((sum / n > 0.52 && sum / n < 0.61));
}

TEST_CASE("augment.flip_jitter_grayscale_rates") {
  ImageSet set = sample();
  AugmentOptions o;
  Generator gen(2);
  std::vector<float> out(3 * 32 * 32);
  int n = 4000, flips = 0, jitters = 0, grays = 0;
  for (int i = 0; i < n; ++i) {
    AugmentRecord r = augment(set, i % set.size(), o, gen, out.data());
    flips += r.flipped, jitters += r.jittered, grays += r.grayscale;
    if (r.grayscale) {  // all three channels equal before normalisation
      float c0 = out[0] * o.std[0] + o.mean[0], c1 = out[1024] * o.std[1] + o.mean[1];
      REQUIRE(std::abs(c0 - c1) < 1e-5);
    }
  }
  // Binomial standard deviations are about 0.008; allow 4 of them.
  CHECK(std::abs(flips / double(n) - 0.5) < 0.032);
  CHECK(std::abs(jitters / double(n) - 0.8) < 0.026);
  CHECK(std::abs(grays / double(n) - 0.2) < 0.026);
}

TEST_CASE("augment.flip_mirrors_and_resize_keeps_identity_crop") {
  std::vector<float> img(3 * 4 * 4);
  for (size_t i = 0; i < img.size(); ++i) img[i] = float(i);
  std::vector<float> same(img.size());
  crop_and_resize(img.data(), 4, 4, {0, 0, 4, 4}, 4, same.data());
  CHECK(same == img);
  horizontal_flip(same.data(), 4);
  CHECK(same[0] == img[3]);
  CHECK(same[4 + 1] == img[4 + 2]);
}

TEST_CASE("loader.reproducible_and_complete") {
  ImageSet set = sample();
  AugmentOptions o;
  ViewLoader a(set, 128, 2, o, 7), b(set, 128, 2, o, 7);
  a.start_epoch(3);
  b.start_epoch(3);
  CHECK(a.batches_per_epoch() == 7);  // 1000 / 128, last partial batch dropped
  std::vector<int> seen(set.size(), 0);
  while (a.has_next()) {
    ViewBatch x = a.next(), y = b.next();
    CHECK(x.indices == y.indices);
    CHECK(x.views[1].to_vector() == y.views[1].to_vector());
    CHECK(x.views[0].to_vector() != x.views[1].to_vector());  // two different views
    for (int64_t i : x.indices) ++seen[i];
  }
  int once = 0;
  for (int s : seen) {
    CHECK(s <= 1);
    once += s;
  }
  CHECK(once == 7 * 128);
  a.start_epoch(4);
  b.start_epoch(3);
  CHECK(a.next().indices != b.next().indices);  // a new epoch reshuffles
}

TEST_CASE("loader.workers_do_not_change_the_views") {
  ImageSet set = sample();
  AugmentOptions o;
  ViewLoader one(set, 100, 2, o, 9), three(set, 100, 2, o, 9, /*drop_last=*/true, /*workers=*/3);
  one.start_epoch(2);
  three.start_epoch(2);
  for (int b = 0; b < 2; ++b) {
    ViewBatch x = one.next(), y = three.next();
    CHECK(x.indices == y.indices);
    CHECK(x.views[0].to_vector() == y.views[0].to_vector());
    CHECK(x.views[1].to_vector() == y.views[1].to_vector());
  }
  CHECK_THROWS_WITH_AS(ViewLoader(set, 100, 2, o, 9, true, 0), doctest::Contains("worker"), Error);
}

TEST_CASE("augment.gaussian_blur_matches_direct_2d_convolution") {
  // Oracle: the 2-d Gaussian applied directly (not separably), reflect padding by hand.
  const int64_t n = 7, k = 5;
  const double sigma = 1.3;
  std::vector<float> img(3 * n * n);
  Generator gen(4);
  for (float& v : img) v = float(gen.uniform());
  std::vector<float> blurred = img;
  gaussian_blur(blurred.data(), n, sigma, k);
  auto reflect = [&](int64_t i) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); };
  double total = 0;
  for (int64_t a = -k / 2; a <= k / 2; ++a)
    for (int64_t b = -k / 2; b <= k / 2; ++b)
      total += std::exp(-(a * a + b * b) / (2 * sigma * sigma));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < n; ++y)
      for (int64_t x = 0; x < n; ++x) {
        double acc = 0;
        for (int64_t a = -k / 2; a <= k / 2; ++a)
          for (int64_t b = -k / 2; b <= k / 2; ++b)
            acc += std::exp(-(a * a + b * b) / (2 * sigma * sigma)) *
                   img[size_t((c * n + reflect(y + a)) * n + reflect(x + b))];
        REQUIRE(std::abs(blurred[size_t((c * n + y) * n + x)] - acc / total) < 1e-5);
      }
  // A constant image stays constant; kernel sizes must be odd.
  std::vector<float> flat(3 * n * n, 0.25f);
  gaussian_blur(flat.data(), n, 2.0, 7);
  for (float v : flat) REQUIRE(std::abs(v - 0.25f) < 1e-6);
  CHECK_THROWS_WITH_AS(gaussian_blur(flat.data(), n, 1.0, 4), doctest::Contains("odd"), Error);
}

TEST_CASE("augment.blur_rate_and_kernel_size") {
  ImageSet set = sample();
  AugmentOptions o;
  CHECK(blur_kernel_size(o) == 3);  // a tenth of 32, at least 3
  o.size = 224;
  CHECK(blur_kernel_size(o) == 23);  // SimCLR/BYOL's kernel for ImageNet crops
  o.size = 32;
  o.blur_p = 0.5;
  Generator gen(5);
  std::vector<float> out(3 * 32 * 32);
  int n = 2000, blurred = 0;
  for (int i = 0; i < n; ++i) blurred += augment(set, i % set.size(), o, gen, out.data()).blurred;
  CHECK(std::abs(blurred / double(n) - 0.5) < 0.045);  // 4 binomial standard deviations
  // Without blur, no random number is drawn for it: the other choices are unchanged.
  AugmentOptions plain;
  Generator g1(6), g2(6);
  std::vector<float> a(out.size()), b(out.size());
  AugmentOptions no_blur = plain;
  no_blur.blur_p = 0;
  for (int i = 0; i < 50; ++i) {
    augment(set, i, plain, g1, a.data());
    augment(set, i, no_blur, g2, b.data());
    REQUIRE(a == b);
  }
}

// GSG's loader: four crops per image, each its own draw from the image's generator (so no crop
// repeats another), and all four of the image the batch row names.
TEST_CASE("loader.four_views_are_independent_draws_of_the_same_image") {
  ImageSet set = sample();
  AugmentOptions o;
  ViewLoader loader(set, 64, 4, o, 11);
  loader.start_epoch(2);
  ViewBatch batch = loader.next();
  REQUIRE(batch.views.size() == 4);
  int64_t per_image = 3 * o.size * o.size;
  for (int64_t i = 0; i < 64; ++i) {
    CAPTURE(i);
    // Redraw the row's four crops from its image's own generator, in order.
    Generator gen = view_generator(11, 2, batch.indices[size_t(i)]);
    std::vector<std::vector<float>> crops;
    for (int v = 0; v < 4; ++v) {
      std::vector<float> expected(size_t(per_image), 0.0f);
      augment(set, batch.indices[size_t(i)], o, gen, expected.data());
      const float* got = batch.views[size_t(v)].data<float>() + i * per_image;
      CHECK(std::equal(expected.begin(), expected.end(), got));
      crops.push_back(expected);
    }
    for (int v = 0; v < 4; ++v)
      for (int w = v + 1; w < 4; ++w) CHECK(crops[size_t(v)] != crops[size_t(w)]);
  }
}
