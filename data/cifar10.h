#pragma once
// CIFAR-10 in its official binary format: records of 1 label byte (0-9) followed by 3,072 pixel
// bytes (1,024 red, 1,024 green, 1,024 blue, each plane row-major 32x32). Training data is every
// data_batch_*.bin of a directory, in name order; test data is test_batch.bin; class names come
// from batches.meta.txt. Everything is validated, and errors name the file and the offset.
#include <string>
#include <vector>

#include "data/image_set.h"

namespace sg {

inline constexpr int64_t kCifarRecordBytes = 1 + 3 * 32 * 32;

// Reads and concatenates the given record files (no class names).
ImageSet read_cifar10_records(const std::vector<std::string>& files);
ImageSet load_cifar10_train(const std::string& dir);
ImageSet load_cifar10_test(const std::string& dir);
// The 10 class names, one per line.
std::vector<std::string> read_cifar10_class_names(const std::string& meta_file);

}  // namespace sg
