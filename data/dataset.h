#pragma once
// The train and test splits of a data directory, in either format stopgrad reads:
//   - CIFAR-10 binary: DIR/data_batch_*.bin and DIR/test_batch.bin (32x32 images);
//   - image folders:   DIR/train/<class>/*.png|jpg and DIR/test/<class>/..., resized to
//                      image_size (both splits must list the same classes).
#include <string>

#include "data/image_set.h"

namespace sg {

struct Splits {
  ImageSet train, test;
  std::string format;  // "cifar10" or "image-folder"
};

Splits load_splits(const std::string& dir, int64_t image_size);

}  // namespace sg
