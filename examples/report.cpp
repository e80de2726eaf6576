// Draws one or several runs on shared axes as one self-contained HTML page (inline SVG):
//   ./build/examples/report runs/simsiam runs/gsg --out compare.html
// Each RUNDIR is a train_cifar10 run directory (config.json, metrics.jsonl); train_cifar10
// also writes RUNDIR/report.html for its own run after every epoch.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "engine/atomic_file.h"
#include "examples/report_html.h"

int main(int argc, char** argv) {
  CLI::App app{"stopgrad run report: training curves, GSG pair choice and embedding spectra"};
  std::vector<std::string> dirs;
  std::string out;
  app.add_option("runs", dirs, "run directories written by train_cifar10")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--out", out, "the HTML file to write")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    std::vector<sg::RunRecord> runs;
    for (const auto& d : dirs) runs.push_back(sg::read_run(d));
    sg::write_text_atomically(out, sg::report_html(runs));
    std::printf("wrote %s (%zu run%s)\n", out.c_str(), runs.size(), runs.size() == 1 ? "" : "s");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "report: %s\n", e.what());
    return 1;
  }
  return 0;
}
