#include "engine/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"

namespace sg {

void write_file_atomically(const std::string& path, const std::function<bool(std::FILE*)>& write) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  SG_CHECK(f != nullptr, "cannot write '", tmp, "': ", std::strerror(errno));
  bool ok = write(f);
  ok = ok && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    SG_CHECK(false, "writing '", path, "' failed: ", why,
             " (the previous file, if any, is untouched)");
  }
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](std::FILE* f) {
    return std::fwrite(text.data(), 1, text.size(), f) == text.size();
  });
}

}  // namespace sg
