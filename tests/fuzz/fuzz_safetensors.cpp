// libFuzzer harness: whatever bytes a checkpoint file holds, load_safetensors either loads it or
// throws sg::Error; anything else (a crash, a sanitizer report, another exception) is a bug.
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DSG_WITH_CUDA=OFF \
//     -DSG_FUZZ=ON -DCMAKE_CXX_FLAGS="-fsanitize=address,fuzzer-no-link"
//   cmake --build build-fuzz --target fuzz_safetensors
//   build-fuzz/tests/fuzz_safetensors -max_total_time=240 -dict=tests/fuzz/safetensors.dict
#include <string>

#include "engine/safetensors.h"
#include "tests/fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_input_file("fuzz_safetensors", data, size);
  if (path.empty()) return 0;
  try {
    sg::load_safetensors(path);
  } catch (const sg::Error&) {
  }
  return 0;
}
