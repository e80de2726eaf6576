#include "data/png.h"

#include <stb_image_write.h>

#include "engine/atomic_file.h"
#include "engine/error.h"

namespace sg {

void write_png(const std::string& path, const uint8_t* rgb, int64_t width, int64_t height) {
  std::string bytes;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
  };
  SG_CHECK(stbi_write_png_to_func(append, &bytes, int(width), int(height), 3, rgb, int(width * 3)),
           "could not encode '", path, "' as PNG");
  write_text_atomically(path, bytes);
}

}  // namespace sg
