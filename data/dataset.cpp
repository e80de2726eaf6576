#include "data/dataset.h"

#include <filesystem>

#include "data/cifar10.h"
#include "data/image_folder.h"

namespace sg {

namespace fs = std::filesystem;

Splits load_splits(const std::string& dir, int64_t image_size) {
  SG_CHECK(fs::is_directory(dir), "data directory '", dir, "' does not exist");
  if (fs::exists(fs::path(dir) / "test_batch.bin")) {
    SG_CHECK(image_size == 32, "'", dir, "' holds CIFAR-10 (32x32 images); image size ", image_size,
             " needs an image-folder dataset");
    return {load_cifar10_train(dir), load_cifar10_test(dir), "cifar10"};
  }
  SG_CHECK(fs::is_directory(fs::path(dir) / "train") && fs::is_directory(fs::path(dir) / "test"),
           "data directory '", dir,
           "' is neither CIFAR-10 binary (data_batch_*.bin, test_batch.bin) nor an image folder "
           "with train/ and test/ sub-directories");
  Splits s{load_image_folder((fs::path(dir) / "train").string(), image_size),
           load_image_folder((fs::path(dir) / "test").string(), image_size), "image-folder"};
  SG_CHECK(s.train.class_names == s.test.class_names, "image folder '", dir,
           "': train/ and test/ have different class sub-folders");
  return s;
}

}  // namespace sg
