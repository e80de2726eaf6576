#include "examples/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace sg::svg {

namespace {

// Colour-blind-safe palette (Okabe-Ito).
const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                          "#E69F00", "#56B4E9", "#000000", "#F0E442"};

std::string number(double v) {
  char buf[32];
  if (v != 0 && (std::abs(v) >= 1e4 || std::abs(v) < 1e-2))
    std::snprintf(buf, sizeof buf, "%.0e", v);
  else
    std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// About five round tick positions covering [lo, hi].
std::vector<double> linear_ticks(double lo, double hi) {
  double span = hi - lo, raw = span / 5, mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

bool usable(double y, bool log_y) { return std::isfinite(y) && (!log_y || y > 0); }

// The legend has room for 24 characters. A longer label keeps its start and its end around an
// ellipsis: run names that share a long prefix usually differ at the end (a seed, a variant),
// and cutting the end off made two of them read the same.
std::string legend_text(const std::string& label) {
  constexpr size_t room = 24, head = 9, tail = room - head - 1;
  if (label.size() <= room) return label;
  return label.substr(0, head) + "\u2026" + label.substr(label.size() - tail);
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render(const Plot& p) {
  const double left = 70, right = 16, top = 34, bottom = 50;
  const double w = p.width - left - right, h = p.height - top - bottom;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const Series& s : p.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!usable(s.y[i], p.log_y)) continue;
      double y = p.log_y ? std::log10(s.y[i]) : s.y[i];
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << p.width << "\" height=\""
      << p.height << "\" viewBox=\"0 0 " << p.width << " " << p.height
      << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\" role=\"img\">\n"
      << "<title>" << escape(p.title) << "</title>\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << left + w / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" "
      << "font-weight=\"bold\">" << escape(p.title) << "</text>\n";
  if (!(x0 <= x1)) {  // nothing to draw
    out << "<text x=\"" << left + w / 2 << "\" y=\"" << top + h / 2
        << "\" text-anchor=\"middle\" fill=\"#666\">no data yet</text>\n</svg>\n";
    return out.str();
  }
  if (x1 == x0) x0 -= 1, x1 += 1;
  if (y1 == y0) {
    double pad = p.log_y ? 0.5 : std::max(std::abs(y0) * 0.1, 1e-3);
    y0 -= pad, y1 += pad;
  } else {
    double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
  }
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * w; };
  auto py = [&](double y) { return top + h - (y - y0) / (y1 - y0) * h; };
  // Axes and grid.
  out << "<g stroke=\"#ccc\" stroke-width=\"1\">\n";
  std::vector<double> yt;
  if (p.log_y)
    for (double e = std::ceil(y0); e <= y1; ++e) yt.push_back(e);
  else
    yt = linear_ticks(y0, y1);
  for (double y : yt)
    out << "<line x1=\"" << left << "\" x2=\"" << left + w << "\" y1=\"" << py(y) << "\" y2=\""
        << py(y) << "\"/>\n";
  out << "</g>\n<g font-size=\"11\" fill=\"#333\">\n";
  for (double y : yt)
    out << "<text x=\"" << left - 6 << "\" y=\"" << py(y) + 4 << "\" text-anchor=\"end\">"
        << escape(p.log_y ? number(std::pow(10, y)) : number(y)) << "</text>\n";
  for (double x : linear_ticks(x0, x1))
    out << "<text x=\"" << px(x) << "\" y=\"" << top + h + 16 << "\" text-anchor=\"middle\">"
        << escape(number(x)) << "</text>\n";
  out << "</g>\n<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << w << "\" height=\"" << h
      << "\" fill=\"none\" stroke=\"#333\"/>\n"
      << "<text x=\"" << left + w / 2 << "\" y=\"" << p.height - 10 << "\" text-anchor=\"middle\">"
      << escape(p.x_label) << "</text>\n"
      << "<text transform=\"translate(16," << top + h / 2
      << ") rotate(-90)\" text-anchor=\"middle\">" << escape(p.y_label)
      << (p.log_y ? " (log scale)" : "") << "</text>\n";
  // Series, then the legend in the top right corner.
  for (size_t k = 0; k < p.series.size(); ++k) {
    const Series& s = p.series[k];
    const char* colour = kColours[k % 8];
    std::ostringstream points;
    int n = 0;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!usable(s.y[i], p.log_y)) continue;
      points << px(s.x[i]) << "," << py(p.log_y ? std::log10(s.y[i]) : s.y[i]) << " ";
      ++n;
    }
    if (n > 1)
      out << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\" points=\""
          << points.str() << "\"/>\n";
    if (n <= 12) {  // few points: mark them
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
        if (usable(s.y[i], p.log_y))
          out << "<circle cx=\"" << px(s.x[i]) << "\" cy=\""
              << py(p.log_y ? std::log10(s.y[i]) : s.y[i]) << "\" r=\"3\" fill=\"" << colour
              << "\"/>\n";
    }
  }
  if (p.series.size() > 1 || (p.series.size() == 1 && !p.series[0].label.empty())) {
    double lx = left + w - 8, ly = top + 14;
    out << "<rect x=\"" << lx - 156 << "\" y=\"" << ly - 13 << "\" width=\"154\" height=\""
        << 16 * double(p.series.size()) + 4
        << "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ddd\"/>\n";
    for (size_t k = 0; k < p.series.size(); ++k) {
      double y = ly + 16 * double(k);
      out << "<line x1=\"" << lx - 150 << "\" x2=\"" << lx - 130 << "\" y1=\"" << y - 4
          << "\" y2=\"" << y - 4 << "\" stroke=\"" << kColours[k % 8] << "\" stroke-width=\"2\"/>\n"
          << "<text x=\"" << lx - 126 << "\" y=\"" << y << "\" font-size=\"11\"><title>"
          << escape(p.series[k].label) << "</title>" << escape(legend_text(p.series[k].label))
          << "</text>\n";
    }
  }
  out << "</svg>\n";
  return out.str();
}

}  // namespace sg::svg
