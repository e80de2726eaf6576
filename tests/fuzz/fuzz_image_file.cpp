// libFuzzer harness: whatever bytes one file of an image folder holds (PNG, JPEG, BMP, or
// anything else), load_image_file either decodes and resizes it or throws sg::Error; anything
// else (a crash, a sanitizer report, a huge allocation, another exception) is a bug. stb_image's
// decoders are where image libraries' security bugs live.
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DSG_WITH_CUDA=OFF \
//     -DSG_FUZZ=ON -DCMAKE_CXX_FLAGS="-fsanitize=address,fuzzer-no-link"
//   cmake --build build-fuzz --target fuzz_image_file
//   mkdir -p /tmp/image-seeds && cp ../shared/data/cifar10-jpeg/test/cat/000{0..4}*.jpg \
//     "$(find build-fuzz -name '*.png' | head -3)" /tmp/image-seeds/   # any small PNG/JPEG/BMP
//   build-fuzz/tests/fuzz_image_file -max_total_time=600 -rss_limit_mb=4096 /tmp/image-seeds
// Run 2026-12-01 for 600 s under ASan; what it found: docs/robustness.md.
#include <string>
#include <vector>

#include "data/image_folder.h"
#include "tests/fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_input_file("fuzz_image_file", data, size);
  if (path.empty()) return 0;
  std::vector<uint8_t> chw(3 * 16 * 16);
  try {
    sg::load_image_file(path, 16, chw.data());
  } catch (const sg::Error&) {
  }
  return 0;
}
