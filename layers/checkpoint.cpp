#include "layers/checkpoint.h"

namespace sg {

void save_module(const Module& module, const std::string& path,
                 const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, module.state_dict(), metadata);
}

void load_named(const NamedTensors& targets, const NamedTensors& state, const std::string& what) {
  std::map<std::string, Tensor> given(state.begin(), state.end());
  std::string problems;
  for (const auto& [name, t] : targets) {
    auto it = given.find(name);
    if (it == given.end()) {
      problems += "\n  missing tensor: " + name + " " + shape_str(t.shape());
      continue;
    }
    const Tensor& src = it->second;
    if (src.shape() != t.shape())
      problems += "\n  " + name + ": shape " + shape_str(src.shape()) + " in file, " +
                  shape_str(t.shape()) + " expected";
    else if (src.dtype() != t.dtype())
      problems += "\n  " + name + ": dtype " + std::string(dtype_name(src.dtype())) + " in file, " +
                  std::string(dtype_name(t.dtype())) + " expected";
  }
  std::map<std::string, Tensor> wanted(targets.begin(), targets.end());
  for (const auto& [name, t] : state)
    if (!wanted.count(name)) problems += "\n  unexpected tensor: " + name;
  SG_CHECK(problems.empty(), what, " does not match the model:", problems);
  NoGradGuard no_grad;
  for (const auto& [name, t] : targets) engine::copy_(t, engine::to(given.at(name), t.device()));
}

std::map<std::string, std::string> load_module(Module& module, const std::string& path) {
  SafetensorsContents file = load_safetensors(path);
  load_named(module.state_dict(), file.tensors, "'" + path + "'");
  return file.metadata;
}

}  // namespace sg
