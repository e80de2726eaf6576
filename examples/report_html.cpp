#include "examples/report_html.h"

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "engine/error.h"
#include "examples/svg_plot.h"

namespace sg {

namespace fs = std::filesystem;
using json = nlohmann::json;

RunRecord read_run(const std::string& dir) {
  RunRecord r;
  r.name = fs::path(dir).lexically_normal().filename().string();
  if (r.name.empty() || r.name == ".") r.name = fs::absolute(dir).parent_path().filename().string();
  std::string config = (fs::path(dir) / "config.json").string();
  std::ifstream c(config);
  SG_CHECK(c.good(), "report: cannot open '", config, "' (is '", dir, "' a run directory?)");
  r.config = json::parse(c, nullptr, /*allow_exceptions=*/false);
  SG_CHECK(r.config.is_object(), "report: '", config, "' is not a JSON object");
  std::string metrics = (fs::path(dir) / "metrics.jsonl").string();
  std::ifstream m(metrics);
  SG_CHECK(m.good(), "report: cannot open '", metrics, "'");
  int number = 0;
  for (std::string line; std::getline(m, line);) {
    ++number;
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    SG_CHECK(j.is_object() && j.contains("epoch") && j["epoch"].is_number(), "report: '", metrics,
             "' line ", number, " is not a metrics record with an epoch");
    r.metrics.push_back(std::move(j));
  }
  return r;
}

namespace {

// One metric against epochs, a line per run; records without the metric are skipped.
svg::Series over_epochs(const RunRecord& r, const std::string& key, double scale = 1,
                        int component = -1) {
  svg::Series s{r.name, {}, {}};
  for (const json& m : r.metrics) {
    if (!m.contains(key)) continue;
    const json& v = component >= 0 ? m[key][size_t(component)] : m[key];
    if (!v.is_number()) continue;
    s.x.push_back(m["epoch"].get<double>());
    s.y.push_back(scale * v.get<double>());
  }
  return s;
}

std::string base64(const std::string& bytes) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 |
                 uint8_t(bytes[i + 2]);
    for (int k = 3; k >= 0; --k) out += digits[(v >> (6 * k)) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += digits[(v >> 18) & 63];
    out += digits[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? digits[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Each plot is its SVG inlined as a data URI in an <img>: the page stays one file that any HTML
// parser (xmllint's HTML 4 one included) reads without unknown tags, and needs no script.
std::string figure(const std::string& metric, const svg::Plot& p, const std::string& caption) {
  return "<div class=\"plot\" data-metric=\"" + metric + "\">\n<img width=\"" +
         std::to_string(p.width) + "\" height=\"" + std::to_string(p.height) + "\" alt=\"" +
         svg::escape(p.title) + "\" src=\"data:image/svg+xml;base64," + base64(svg::render(p)) +
         "\">\n<p class=\"caption\">" + svg::escape(caption) + "</p>\n</div>\n";
}

// The epochs whose spectrum a single-run page draws: first, two in between, last.
std::vector<const json*> spectrum_epochs(const RunRecord& r) {
  std::vector<const json*> with;
  for (const json& m : r.metrics)
    if (m.contains("z_spectrum")) with.push_back(&m);
  if (with.size() <= 4) return with;
  return {with.front(), with[with.size() / 3], with[2 * with.size() / 3], with.back()};
}

svg::Series spectrum_series(const json& m, const std::string& label) {
  svg::Series s{label, {}, {}};
  const json& e = m["z_spectrum"];
  for (size_t k = 0; k < e.size(); ++k) {
    s.x.push_back(double(k + 1));
    s.y.push_back(e[k].get<double>());
  }
  return s;
}

}  // namespace

std::string report_html(const std::vector<RunRecord>& runs) {
  std::string title = runs.size() == 1 ? "stopgrad run: " + runs[0].name
                                       : "stopgrad: " + std::to_string(runs.size()) + " runs";
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
      svg::escape(title) +
      "</title>\n<style>\n"
      "body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; }\n"
      ".plots { display: flex; flex-wrap: wrap; gap: 12px; }\n"
      ".plot { margin: 0; } .caption { font-size: 12px; color: #555; max-width: 520px; "
      "margin: 2px 0 8px; }\n"
      "table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }\n"
      "td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }\n"
      "</style>\n</head>\n<body>\n<h1>" +
      svg::escape(title) + "</h1>\n<div class=\"plots\">\n";
  struct Metric {
    const char* key;
    const char* title;
    const char* y_label;
    double scale;
    const char* caption;
  };
  for (const Metric& k : {
           Metric{"knn_top1", "kNN accuracy", "top-1 accuracy (%)", 100,
                  "kNN monitor on the test split (frozen backbone features)"},
           Metric{"loss", "Training loss", "loss (negative cosine)", 1,
                  "mean over the epoch's steps; -1 is perfect agreement"},
           Metric{"z_std", "Collapse metric z_std", "z_std (1 = spread, 0 = collapsed)", 1,
                  "per-channel std of z/|z| over the batch, times sqrt(d)"},
           Metric{"lr", "Learning rate", "learning rate", 1, "cosine schedule"},
           Metric{"images_per_s", "Training speed", "images per second", 1,
                  "images of the epoch over its training time"},
           Metric{"z_effective_rank", "Effective rank of z", "effective rank", 1,
                  "exp of the entropy of the normalised eigenvalues, fixed batch of test images"},
       }) {
    svg::Plot p{k.title, "epoch", k.y_label, false, 520, 320, {}};
    for (const RunRecord& r : runs) p.series.push_back(over_epochs(r, k.key, k.scale));
    if (runs.size() == 1) p.series[0].label.clear();
    html += figure(k.key, p, k.caption);
  }
  // GSG: how often each of the four cross-image pairs was the closest.
  for (const RunRecord& r : runs) {
    bool gsg = false;
    for (const json& m : r.metrics) gsg = gsg || m.contains("gsg_pair_share");
    if (!gsg) continue;
    svg::Plot p{"GSG pair choice" + (runs.size() > 1 ? ": " + r.name : std::string()),
                "epoch",
                "share of images (%)",
                false,
                520,
                320,
                {}};
    const char* pairs[] = {"(view 1, view 1)", "(view 1, view 2)", "(view 2, view 1)",
                           "(view 2, view 2)"};
    for (int c = 0; c < 4; ++c) {
      svg::Series s = over_epochs(r, "gsg_pair_share", 100, c);
      s.label = pairs[c];
      p.series.push_back(s);
    }
    html += figure("gsg_pair_share", p,
                   "which of image i's and its partner's views formed the closest pair");
  }
  // The spectrum: a few epochs of one run, or the last evaluated epoch of each.
  svg::Plot spectrum{
      "Spectrum of z", "eigenvalue index (largest first)", "eigenvalue", true, 520, 320, {}};
  if (runs.size() == 1) {
    for (const json* m : spectrum_epochs(runs[0]))
      spectrum.series.push_back(
          spectrum_series(*m, "epoch " + std::to_string((*m)["epoch"].get<int64_t>())));
  } else {
    for (const RunRecord& r : runs)
      for (auto it = r.metrics.rbegin(); it != r.metrics.rend(); ++it)
        if (it->contains("z_spectrum")) {
          spectrum.series.push_back(spectrum_series(*it, r.name));
          break;
        }
  }
  html += figure("z_spectrum", spectrum,
                 "eigenvalues of the covariance of l2-normalised z; collapse shows as a few "
                 "large eigenvalues and a cliff");
  html += "</div>\n<h2>Configuration</h2>\n";
  for (const RunRecord& r : runs) {
    html += "<table>\n<tr><th colspan=\"2\">" + svg::escape(r.name) + "</th></tr>\n";
    for (auto& [key, value] : r.config.items()) {
      if (key == "kernels") continue;  // a table of its own below
      html +=
          "<tr><td>" + svg::escape(key) + "</td><td>" + svg::escape(value.dump()) + "</td></tr>\n";
    }
    if (r.config.contains("kernels") && r.config["kernels"].contains("cpu"))
      for (auto& [op, kernel] : r.config["kernels"]["cpu"].items())
        html += "<tr><td>kernel: " + svg::escape(op) + "</td><td>" +
                svg::escape(kernel.is_string() ? kernel.get<std::string>() : kernel.dump()) +
                "</td></tr>\n";
    html += "</table>\n";
  }
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace sg
