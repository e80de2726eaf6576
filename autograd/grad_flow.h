#pragma once
// Gradient flow as something to unit-test: after a backward pass, where did gradient go?
// Each watched tensor (a parameter, an input) is in one of three states:
//
//   none     no gradient was produced: backward never reached it (a stop-gradient cut it off,
//            or it is not used by the loss at all); its grad() is undefined
//   zero     backward reached it and the gradient is exactly zero (e.g. a bias feeding a
//            BatchNorm, which removes any constant shift)
//   nonzero  a gradient with at least one non-zero element
//
//   auto report = grad_flow(loss, net.named_parameters());   // runs backward(loss)
//   CHECK_MESSAGE(report.mismatches(expect).empty(), report.mismatches(expect));
//
// where `expect` maps a name to the state it should be in (docs/stop-gradient.md has a worked
// example). The report keeps each gradient's norm for printing.
//
// "Exactly zero" is exact by default. A gradient that is zero in exact arithmetic but is a sum
// that cancels (a bias feeding BatchNorm) comes out as rounding residue; `relative_zero`
// counts as zero every gradient whose largest element is at most that fraction of the largest
// element among all watched tensors (about 1e-5 suits float32, 1e-12 float64).
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sg {

enum class GradState { None, Zero, Nonzero };
const char* grad_state_name(GradState s);

struct GradFlowEntry {
  std::string name;
  GradState state;
  double norm;  // 0 for none and zero
};

struct GradFlowReport {
  std::vector<GradFlowEntry> entries;

  // The entry for `name`; throws naming it when it was not watched.
  const GradFlowEntry& at(const std::string& name) const;
  // Every entry whose state differs from expect(name), one line each ("name: expected none,
  // got nonzero (norm 0.0123)"); empty when all agree.
  std::string mismatches(const std::function<GradState(const std::string&)>& expect) const;
  // The names in a given state.
  std::vector<std::string> named(GradState s) const;
  // An aligned table of name, state and norm, for printing.
  std::string table() const;
};

// The state of every watched tensor's gradient as it is now (no backward is run).
GradFlowReport grad_flow_report(const NamedTensors& watched, double relative_zero = 0);

// Clears the watched tensors' gradients, runs backward(loss) and reports. Gradients that other
// tensors accumulated before are left alone.
GradFlowReport grad_flow(const Tensor& loss, const NamedTensors& watched, double relative_zero = 0);

}  // namespace sg
