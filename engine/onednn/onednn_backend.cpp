#include "engine/onednn/onednn_backend.h"

namespace sg {

Backend& onednn_backend() {
  static OneDnnBackend backend;
  return backend;
}

}  // namespace sg
