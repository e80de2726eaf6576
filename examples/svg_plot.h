#pragma once
// The one SVG writer of the project: a line plot with labelled axes, ticks, a legend and an
// optional log-scale y axis, as a self-contained <svg> element (no script, no external font or
// file). Used by the run reports (examples/report_html.h).
#include <string>
#include <vector>

namespace sg::svg {

struct Series {
  std::string label;
  std::vector<double> x, y;  // points with non-finite (or, on a log axis, non-positive) y skipped
};

struct Plot {
  std::string title, x_label, y_label;
  bool log_y = false;
  int width = 520, height = 320;
  std::vector<Series> series;
};

std::string render(const Plot& p);

// Escapes text for XML content and attributes.
std::string escape(const std::string& text);

}  // namespace sg::svg
