#pragma once
// The harnesses' shared step: libFuzzer hands over bytes, the parsers under test read files.
// Writes the bytes to one temporary file per process (named after the harness) and returns its
// path, or "" when it cannot be written.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

inline std::string fuzz_input_file(const char* harness, const uint8_t* data, size_t size) {
  static const std::string path = (std::filesystem::temp_directory_path() /
                                   (std::string(harness) + "." + std::to_string(getpid())))
                                      .string();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return "";
  bool ok = std::fwrite(data, 1, size, f) == size;
  ok = std::fclose(f) == 0 && ok;
  return ok ? path : "";
}
