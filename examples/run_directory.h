#pragma once
// A training run's directory: config.json (the options), metrics.jsonl (one JSON object per
// epoch; epoch 0 is the untrained network), report.html, and after every epoch the checkpoint
// (checkpoint.safetensors, optimizer.safetensors, for BYOL target.safetensors). Every file is
// written to a temporary name and renamed, so an interrupted run never leaves a torn file, and
// --resume continues from the last complete epoch.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "layers/optim.h"
#include "ssl/byol.h"
#include "ssl/heads.h"

namespace sg {

class RunDirectory {
 public:
  explicit RunDirectory(std::string path);
  const std::string& path() const { return path_; }

  // A new run: creates the directory and writes config.json.
  void start(const nlohmann::json& config);
  // A resumed run: config must match the saved one, except for keys that do not change results
  // (threads, workers, the machine's kernels, the version). Restores model, optimizer, target
  // network and metrics; returns the last finished epoch.
  int64_t resume(const nlohmann::json& config, int64_t epochs, SiameseNet& net, SGD& sgd,
                 TargetNetwork* target);

  const std::vector<nlohmann::json>& metrics() const { return metrics_; }
  // Appends an epoch's record and rewrites metrics.jsonl and report.html.
  void record(const nlohmann::json& epoch_metrics);
  // The state after `epoch`: model (with the epoch and config in its metadata), optimizer, target.
  void save_checkpoint(int64_t epoch, SiameseNet& net, const SGD& sgd, TargetNetwork* target);

 private:
  std::string file(const char* name) const;
  std::string path_;
  nlohmann::json config_;
  std::vector<nlohmann::json> metrics_;
};

}  // namespace sg
