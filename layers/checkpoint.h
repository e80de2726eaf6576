#pragma once
// Module and optimizer checkpoints as safetensors files with torchvision's names and shapes.
#include <map>
#include <string>

#include "engine/safetensors.h"
#include "layers/module.h"

namespace sg {

void save_module(const Module& module, const std::string& path,
                 const std::map<std::string, std::string>& metadata = {});

// Loads every parameter and buffer of `module` from `path`. Every name, shape and dtype is
// checked first and all mismatches are reported together; nothing is changed unless all match.
// Returns the file's metadata.
std::map<std::string, std::string> load_module(Module& module, const std::string& path);

// Copies `state` into `targets` (same rules as load_module); `what` names the source in errors.
void load_named(const NamedTensors& targets, const NamedTensors& state, const std::string& what);

}  // namespace sg
