#include "data/cifar10.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace sg {

namespace fs = std::filesystem;

namespace {
void append_records(const std::string& path, ImageSet& out) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  SG_CHECK(in.good(), "cannot open CIFAR-10 file '", path, "': ", std::strerror(errno));
  int64_t bytes = int64_t(in.tellg());
  SG_CHECK(bytes > 0, "CIFAR-10 file '", path, "' is empty");
  SG_CHECK(bytes % kCifarRecordBytes == 0, "CIFAR-10 file '", path, "' has ", bytes,
           " bytes, not a whole number of 3,073-byte records: the record starting at offset ",
           bytes / kCifarRecordBytes * kCifarRecordBytes, " is truncated");
  std::vector<uint8_t> raw(static_cast<size_t>(bytes));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(raw.data()), bytes);
  SG_CHECK(in.good(), "reading CIFAR-10 file '", path, "' failed");
  for (int64_t r = 0; r < bytes / kCifarRecordBytes; ++r) {
    const uint8_t* record = raw.data() + r * kCifarRecordBytes;
    SG_CHECK(record[0] <= 9, "CIFAR-10 file '", path, "': record ", r, " at offset ",
             r * kCifarRecordBytes, " has label ", int(record[0]), ", expected 0-9");
    out.labels.push_back(record[0]);
    out.pixels.insert(out.pixels.end(), record + 1, record + kCifarRecordBytes);
  }
}

std::vector<std::string> class_names_or_empty(const std::string& dir) {
  std::string meta = (fs::path(dir) / "batches.meta.txt").string();
  return fs::exists(meta) ? read_cifar10_class_names(meta) : std::vector<std::string>{};
}
}  // namespace

ImageSet read_cifar10_records(const std::vector<std::string>& files) {
  ImageSet out;
  for (const auto& f : files) append_records(f, out);
  return out;
}

ImageSet load_cifar10_train(const std::string& dir) {
  SG_CHECK(fs::is_directory(dir), "CIFAR-10 directory '", dir, "' does not exist");
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("data_batch_") && name.ends_with(".bin"))
      files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  SG_CHECK(!files.empty(), "no data_batch_*.bin files in CIFAR-10 directory '", dir, "'");
  ImageSet out = read_cifar10_records(files);
  out.class_names = class_names_or_empty(dir);
  return out;
}

ImageSet load_cifar10_test(const std::string& dir) {
  std::string path = (fs::path(dir) / "test_batch.bin").string();
  SG_CHECK(fs::exists(path), "no test_batch.bin in CIFAR-10 directory '", dir, "'");
  ImageSet out = read_cifar10_records({path});
  out.class_names = class_names_or_empty(dir);
  return out;
}

std::vector<std::string> read_cifar10_class_names(const std::string& meta_file) {
  std::ifstream in(meta_file);
  SG_CHECK(in.good(), "cannot open '", meta_file, "'");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  SG_CHECK(names.size() == 10, "'", meta_file, "' lists ", names.size(),
           " class names, expected 10");
  return names;
}

}  // namespace sg
