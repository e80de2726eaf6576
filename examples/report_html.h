#pragma once
// A run's report page: one self-contained HTML file (SVG plots from examples/svg_plot.h inlined
// as data: URIs, no script, no network) with kNN accuracy, loss, z_std, learning rate and images/s
// against epochs, GSG's pair shares, the embedding spectrum (ssl/spectrum.h) at a few epochs on a
// log scale with the effective rank over epochs, and the run's configuration. Several runs share
// the axes, one line each, for comparisons (examples/report).
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace sg {

struct RunRecord {
  std::string name;  // the run directory's name
  nlohmann::json config;
  std::vector<nlohmann::json> metrics;  // metrics.jsonl, one object per line
};

// Reads RUNDIR/config.json and RUNDIR/metrics.jsonl; errors name the file and line.
RunRecord read_run(const std::string& dir);

// Each plot is an SVG (inlined as a data: URI) inside a <div class="plot" data-metric="NAME">, NAME
// one of knn_top1, loss, z_std, lr, images_per_s, gsg_pair_share (GSG runs), z_spectrum,
// z_effective_rank.
std::string report_html(const std::vector<RunRecord>& runs);

}  // namespace sg
