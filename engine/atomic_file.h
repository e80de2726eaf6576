#pragma once
// Writing a file so that readers only ever see the old or the complete new version: write a
// temporary file beside it, flush it to disk, then rename it over the target.
#include <cstdio>
#include <functional>
#include <string>

namespace sg {

// `write` fills the open temporary file and returns false on failure. Throws naming `path`
// (and leaves any existing file untouched) if anything fails.
void write_file_atomically(const std::string& path, const std::function<bool(std::FILE*)>& write);
// Writes `text` byte for byte (binary content is fine).
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace sg
