#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/backward.h"
#include "autograd/ops.h"
#include "engine/ops.h"
#include "engine/random.h"

namespace sg {

namespace {
// Logical indices of every element, in row-major order.
std::vector<std::vector<int64_t>> all_indices(const Shape& shape) {
  std::vector<std::vector<int64_t>> out;
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t n = 0; n < numel(shape); ++n) {
    out.push_back(idx);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}
}  // namespace

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs,
                          GradcheckOptions opt) {
  // Aliases of the inputs (same storage and strides) that become the leaves of the check.
  std::vector<Tensor> leaves;
  for (const Tensor& t : inputs) {
    Tensor leaf = t.detach();
    if (is_floating(t.dtype())) {
      SG_CHECK(t.dtype() == DType::Float64, "gradcheck needs float64 inputs, got ",
               dtype_name(t.dtype()));
      leaf.set_requires_grad(true);
    }
    leaves.push_back(leaf);
  }

  Tensor out = f(leaves);
  Generator gen(opt.seed);
  Tensor r = normal(out.shape(), 0.0, 1.0, gen, DType::Float64);
  auto projected = [&](const std::vector<Tensor>& xs) {
    NoGradGuard no_grad;
    return engine::sum(engine::mul(f(xs), r)).item();
  };
  backward(sum(out * r));

  GradcheckResult result;
  for (size_t i = 0; i < leaves.size(); ++i) {
    Tensor& x = leaves[i];
    if (!x.requires_grad()) continue;
    Tensor analytic = x.grad();
    for (const auto& idx : all_indices(x.shape())) {
      double original = x.at(idx);
      x.set(idx, original + opt.eps);
      double plus = projected(leaves);
      x.set(idx, original - opt.eps);
      double minus = projected(leaves);
      x.set(idx, original);
      double numeric = (plus - minus) / (2 * opt.eps);
      double a = analytic.defined() ? analytic.at(idx) : 0.0;
      double ratio = std::abs(a - numeric) / (opt.atol + opt.rtol * std::abs(numeric));
      if (!(ratio <= result.worst_ratio) || std::isnan(ratio)) {
        std::ostringstream where;
        where << "input " << i << " element " << shape_str(idx) << ": analytic " << a
              << ", numeric " << numeric;
        result.worst = where.str();
        result.worst_ratio = std::isnan(ratio) ? INFINITY : ratio;
      }
    }
  }
  result.ok = result.worst_ratio <= 1.0;
  return result;
}

}  // namespace sg
