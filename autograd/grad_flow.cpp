#include "autograd/grad_flow.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "autograd/backward.h"
#include "engine/ops.h"

namespace sg {

const char* grad_state_name(GradState s) {
  switch (s) {
    case GradState::None:
      return "none";
    case GradState::Zero:
      return "zero";
    case GradState::Nonzero:
      return "nonzero";
  }
  return "?";
}

const GradFlowEntry& GradFlowReport::at(const std::string& name) const {
  for (const auto& e : entries)
    if (e.name == name) return e;
  SG_CHECK(false, "grad_flow: '", name, "' was not among the watched tensors");
}

std::string GradFlowReport::mismatches(
    const std::function<GradState(const std::string&)>& expect) const {
  std::string out;
  for (const auto& e : entries) {
    GradState want = expect(e.name);
    if (want == e.state) continue;
    char norm[64];
    std::snprintf(norm, sizeof norm, " (norm %.4g)", e.norm);
    out += e.name + ": expected " + grad_state_name(want) + ", got " + grad_state_name(e.state) +
           (e.state == GradState::Nonzero ? norm : "") + "\n";
  }
  return out;
}

std::vector<std::string> GradFlowReport::named(GradState s) const {
  std::vector<std::string> out;
  for (const auto& e : entries)
    if (e.state == s) out.push_back(e.name);
  return out;
}

std::string GradFlowReport::table() const {
  size_t width = 6;
  for (const auto& e : entries) width = std::max(width, e.name.size());
  std::string out;
  char line[512];
  for (const auto& e : entries) {
    if (e.state == GradState::Nonzero)
      std::snprintf(line, sizeof line, "  %-*s  %-7s  %.6g\n", int(width), e.name.c_str(),
                    grad_state_name(e.state), e.norm);
    else
      std::snprintf(line, sizeof line, "  %-*s  %s\n", int(width), e.name.c_str(),
                    grad_state_name(e.state));
    out += line;
  }
  return out;
}

GradFlowReport grad_flow_report(const NamedTensors& watched, double relative_zero) {
  GradFlowReport report;
  std::vector<double> largest;  // per entry: its largest |element| (-1: none)
  double overall = 0;
  for (const auto& [name, t] : watched) {
    Tensor g = t.grad();
    if (!g.defined()) {
      report.entries.push_back({name, GradState::None, 0.0});
      largest.push_back(-1);
      continue;
    }
    double squares = 0, top = 0;
    for (double v : engine::to_strided(engine::to(g, Device::cpu())).to_vector()) {
      squares += v * v;
      top = std::max(top, std::abs(v));
    }
    report.entries.push_back({name, GradState::Nonzero, std::sqrt(squares)});
    largest.push_back(top);
    overall = std::max(overall, top);
  }
  // Zero when no element is non-zero (not when the norm is: tiny values can square to 0), or
  // within the residue allowed relative to the largest gradient element.
  for (size_t i = 0; i < report.entries.size(); ++i)
    if (largest[i] >= 0 && (largest[i] == 0 || largest[i] <= relative_zero * overall))
      report.entries[i].state = GradState::Zero;
  return report;
}

GradFlowReport grad_flow(const Tensor& loss, const NamedTensors& watched, double relative_zero) {
  for (const auto& [name, t] : watched) t.set_grad(Tensor());
  backward(loss);
  return grad_flow_report(watched, relative_zero);
}

}  // namespace sg
