#pragma once
// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each
// name to {dtype, shape, data_offsets}, then the raw little-endian tensor bytes. The same files
// load in PyTorch (safetensors.torch.load_file) and back.
#include <map>
#include <string>

#include "engine/tensor.h"

namespace sg {

struct SafetensorsContents {
  NamedTensors tensors;  // in file order
  std::map<std::string, std::string> metadata;
};

// Writes atomically: a temporary file beside `path`, flushed to disk, then renamed over it, so
// an interrupted save never leaves a truncated file where a good one was.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Validates the whole file (header, dtypes, shapes, offsets, size) and throws an error naming
// the file and the offending entry.
SafetensorsContents load_safetensors(const std::string& path);

}  // namespace sg
