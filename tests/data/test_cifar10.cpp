// The CIFAR-10 reader on files made here (valid, truncated, bad label), on the bundled sample,
// and on the shared subset (STOPGRAD_CIFAR10 or ../shared/data/cifar10-subset; skipped if absent).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "data/cifar10.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::TempDir;
namespace fs = std::filesystem;

namespace {
// n records; record i has label i % 10 and every pixel byte equal to (i + plane) % 256.
void write_records(const fs::path& file, int n, int bad_label_at = -1, int truncate_by = 0) {
  std::string bytes;
  for (int i = 0; i < n; ++i) {
    bytes.push_back(char(i == bad_label_at ? 10 : i % 10));
    for (int plane = 0; plane < 3; ++plane) bytes.append(1024, char((i + plane) % 256));
  }
  bytes.resize(bytes.size() - truncate_by);
  std::ofstream(file, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string shared_subset_or_skip() {
  const char* env = std::getenv("STOPGRAD_CIFAR10");
  std::string dir = env ? env : SG_SHARED_DATA_DIR "/cifar10-subset";
  if (!fs::exists(fs::path(dir) / "test_batch.bin")) {
    std::printf("SKIPPED: CIFAR-10 subset not found at '%s' (set STOPGRAD_CIFAR10)\n", dir.c_str());
    std::exit(77);  // CTest: skipped
  }
  return dir;
}
}  // namespace

TEST_CASE("cifar10.reads_generated_files") {
  TempDir dir;
  write_records(dir.path / "data_batch_2.bin", 3);
  write_records(dir.path / "data_batch_1.bin", 2);
  write_records(dir.path / "test_batch.bin", 4);
  ImageSet train = load_cifar10_train(dir.path.string());
  REQUIRE(train.size() == 5);
  CHECK(train.labels == std::vector<int64_t>{0, 1, 0, 1, 2});  // batch 1 first, then batch 2
  CHECK(train.class_names.empty());
  CHECK(train.pixels[1024 * 3 + 1024] == 2);  // record 1, green plane: (1 + 1) % 256
  Tensor f = train.images_as_float(1, 2);
  CHECK(f.shape() == Shape{2, 3, 32, 32});
  CHECK(f.at({0, 2, 5, 5}) == doctest::Approx(3 / 255.0));
  CHECK(load_cifar10_test(dir.path.string()).size() == 4);
}

TEST_CASE("cifar10.rejects_bad_files_naming_file_and_offset") {
  TempDir dir;
  write_records(dir.path / "data_batch_1.bin", 3, -1, 100);
  CHECK_THROWS_WITH_AS(load_cifar10_train(dir.path.string()),
                       doctest::Contains("record starting at offset 6146 is truncated"), Error);
  write_records(dir.path / "data_batch_1.bin", 3, 2);
  CHECK_THROWS_WITH_AS(load_cifar10_train(dir.path.string()),
                       doctest::Contains("record 2 at offset 6146 has label 10, expected 0-9"),
                       Error);
  CHECK_THROWS_WITH_AS(load_cifar10_test(dir.path.string()), doctest::Contains("no test_batch.bin"),
                       Error);
  CHECK_THROWS_WITH_AS(load_cifar10_train((dir.path / "missing").string()),
                       doctest::Contains("does not exist"), Error);
  std::ofstream(dir.path / "batches.meta.txt") << "cat\ndog\n";
  write_records(dir.path / "data_batch_1.bin", 1);
  CHECK_THROWS_WITH_AS(load_cifar10_train(dir.path.string()),
                       doctest::Contains("lists 2 class names, expected 10"), Error);
}

TEST_CASE("cifar10.bundled_sample") {
  ImageSet train = load_cifar10_train(SG_SOURCE_DIR "/data/cifar10-sample");
  ImageSet test = load_cifar10_test(SG_SOURCE_DIR "/data/cifar10-sample");
  CHECK(train.size() == 1000);
  CHECK(test.size() == 200);
  CHECK(train.class_names.front() == "airplane");
  CHECK(train.class_names.back() == "truck");
}

TEST_CASE("cifar10.shared_subset") {
  std::string dir = shared_subset_or_skip();
  ImageSet train = load_cifar10_train(dir), test = load_cifar10_test(dir);
  CHECK(train.size() == 4068);
  CHECK(test.size() == 1017);
  std::vector<int> counts(10, 0);
  for (int64_t l : test.labels) ++counts[l];
  for (int c : counts) CHECK((c >= 83 && c <= 120));  // roughly balanced, as its README says
  // Real images, not constant planes: the first test image has varied pixels.
  Tensor img = test.images_as_float(0, 1);
  CHECK(img.at({0, 0, 0, 0}) != img.at({0, 0, 16, 16}));
}
