// libFuzzer harness: whatever bytes a CIFAR-10 record file holds, read_cifar10_records either
// reads it or throws sg::Error; anything else (a crash, a sanitizer report, another exception)
// is a bug.
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DSG_WITH_CUDA=OFF \
//     -DSG_FUZZ=ON -DCMAKE_CXX_FLAGS="-fsanitize=address,fuzzer-no-link"
//   cmake --build build-fuzz --target fuzz_cifar10
//   build-fuzz/tests/fuzz_cifar10 -max_total_time=600 -max_len=20000
// Run 2026-12-01 for 600 s under ASan; what it found: docs/robustness.md.
#include <string>

#include "data/cifar10.h"
#include "tests/fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_input_file("fuzz_cifar10", data, size);
  if (path.empty()) return 0;
  try {
    sg::ImageSet set = sg::read_cifar10_records({path});
    // Every record read must be whole and labelled 0-9.
    if (set.labels.size() * size_t(set.image_bytes()) != set.pixels.size()) __builtin_trap();
    for (int64_t label : set.labels)
      if (label < 0 || label > 9) __builtin_trap();
  } catch (const sg::Error&) {
  }
  return 0;
}
