#pragma once
// Writing 8-bit RGB images as PNG (stb_image_write), atomically: a temporary file, then rename.
#include <cstdint>
#include <string>

namespace sg {

// rgb: height x width x 3, interleaved.
void write_png(const std::string& path, const uint8_t* rgb, int64_t width, int64_t height);

}  // namespace sg
