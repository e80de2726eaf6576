#pragma once
// Checks backward against central finite differences. The output is projected onto a fixed
// random direction r (L = sum(f(x) * r)), so one backward gives every input's dL/dx, and each
// input element is perturbed by ±eps to estimate the same derivative numerically.
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sg {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  uint64_t seed = 0;
};

struct GradcheckResult {
  bool ok = true;
  double worst_ratio = 0;  // max |analytic - numeric| / (atol + rtol |numeric|); ok when <= 1
  std::string worst;       // which input element, with both values
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Inputs must be float64. Floating inputs are checked; int64 inputs (indices) pass through.
// Each input keeps its strides, so non-contiguous inputs are checked as they are.
GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs,
                          GradcheckOptions options = {});

}  // namespace sg
