#include "examples/run_directory.h"

#include <charconv>
#include <filesystem>
#include <fstream>

#include "engine/atomic_file.h"
#include "examples/report_html.h"
#include "layers/checkpoint.h"

namespace sg {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

json read_json(const std::string& path) {
  std::ifstream in(path);
  SG_CHECK(in.good(), "--resume: cannot open '", path, "'");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    SG_CHECK(false, "--resume: '", path, "' is not valid JSON: ", e.what());
  }
}

// Keys that may differ between the start of a run and its resumption: they change speed or
// provenance, not results.
bool may_differ(const std::string& key) {
  return key == "threads" || key == "workers" || key == "kernels" || key == "version";
}

void check_same_config(const json& saved, const json& now) {
  for (auto& [key, value] : now.items())
    if (!may_differ(key))
      SG_CHECK(saved.contains(key) && saved[key] == value, "--resume: option '", key, "' is ",
               value.dump(), " but the run was started with ",
               saved.contains(key) ? saved[key].dump() : std::string("nothing"));
}

}  // namespace

RunDirectory::RunDirectory(std::string path) : path_(std::move(path)) {}

std::string RunDirectory::file(const char* name) const { return (fs::path(path_) / name).string(); }

void RunDirectory::start(const json& config) {
  config_ = config;
  fs::create_directories(path_);
  write_text_atomically(file("config.json"), config.dump(2) + "\n");
}

int64_t RunDirectory::resume(const json& config, int64_t epochs, SiameseNet& net, SGD& sgd,
                             TargetNetwork* target) {
  check_same_config(read_json(file("config.json")), config);
  config_ = config;
  std::string checkpoint = file("checkpoint.safetensors");
  auto meta = load_module(net, checkpoint);
  SG_CHECK(meta.count("epoch"), "--resume: ", checkpoint, " has no epoch in its metadata");
  const std::string& text = meta.at("epoch");
  int64_t epoch = -1;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), epoch);
  SG_CHECK(err == std::errc() && end == text.data() + text.size() && epoch >= 0,
           "--resume: ", checkpoint, "'s epoch '", text, "' is not an epoch number");
  sgd.load_state_dict(load_safetensors(file("optimizer.safetensors")).tensors);
  if (target) load_module(target->net(), file("target.safetensors"));
  std::string path = file("metrics.jsonl");
  std::ifstream in(path);
  SG_CHECK(in.good(), "--resume: cannot open ", path);
  int64_t number = 0;
  metrics_.clear();
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty()) continue;
    json m = json::parse(line, nullptr, /*allow_exceptions=*/false);
    SG_CHECK(m.is_object() && m.contains("epoch") && m["epoch"].is_number_integer(),
             "--resume: ", path, " line ", number,
             " is not a metrics record with an integer epoch: ", line);
    if (m["epoch"].get<int64_t>() <= epoch) metrics_.push_back(m);
  }
  SG_CHECK(!metrics_.empty() && metrics_.back()["epoch"].get<int64_t>() == epoch,
           "--resume: metrics.jsonl does not reach epoch ", epoch, " of the checkpoint");
  SG_CHECK(epoch < epochs, "--resume: the run already finished its ", epochs, " epochs");
  return epoch;
}

void RunDirectory::record(const json& epoch_metrics) {
  metrics_.push_back(epoch_metrics);
  std::string all;
  for (auto& line : metrics_) all += line.dump() + "\n";
  write_text_atomically(file("metrics.jsonl"), all);
  write_text_atomically(
      file("report.html"),
      report_html({RunRecord{fs::path(path_).filename().string(), config_, metrics_}}));
}

void RunDirectory::save_checkpoint(int64_t epoch, SiameseNet& net, const SGD& sgd,
                                   TargetNetwork* target) {
  save_module(net, file("checkpoint.safetensors"),
              {{"epoch", std::to_string(epoch)}, {"config", config_.dump()}});
  save_safetensors(file("optimizer.safetensors"), sgd.state_dict());
  if (target) save_module(target->net(), file("target.safetensors"));
}

}  // namespace sg
