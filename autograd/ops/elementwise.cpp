// Elementwise ops. Binary ops broadcast, so each input's gradient is summed back to its shape.
#include <cmath>

#include "autograd/ops.h"
#include "autograd/ops/relu_output.h"
#include "engine/ops.h"

namespace sg {

namespace e = engine;

Tensor add(const Tensor& a, const Tensor& b) {
  return record("add", e::add(a, b), {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) {
                  return Grads{needs[0] ? e::sum_to(g, sa) : Tensor(),
                               needs[1] ? e::sum_to(g, sb) : Tensor()};
                });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return record("sub", e::sub(a, b), {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) {
                  return Grads{needs[0] ? e::sum_to(g, sa) : Tensor(),
                               needs[1] ? e::sum_to(e::neg(g), sb) : Tensor()};
                });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return record(
      "mul", e::mul(a, b), {a, b},
      [sa = SavedTensor(a), sb = SavedTensor(b)](const Tensor& g, const std::vector<bool>& needs) {
        Tensor a = sa.get("mul"), b = sb.get("mul");
        return Grads{needs[0] ? e::sum_to(e::mul(g, b), a.shape()) : Tensor(),
                     needs[1] ? e::sum_to(e::mul(g, a), b.shape()) : Tensor()};
      });
}

// d(a/b)/da = 1/b,  d(a/b)/db = -a/b^2
Tensor div(const Tensor& a, const Tensor& b) {
  return record(
      "div", e::div(a, b), {a, b},
      [sa = SavedTensor(a), sb = SavedTensor(b)](const Tensor& g, const std::vector<bool>& needs) {
        Tensor a = sa.get("div"), b = sb.get("div");
        Tensor ga, gb;
        if (needs[0]) ga = e::sum_to(e::div(g, b), a.shape());
        if (needs[1]) gb = e::sum_to(e::neg(e::div(e::mul(g, a), e::mul(b, b))), b.shape());
        return Grads{ga, gb};
      });
}

Tensor add(const Tensor& a, double b) { return add(a, Tensor::scalar(b, a.dtype(), a.device())); }
Tensor mul(const Tensor& a, double b) { return mul(a, Tensor::scalar(b, a.dtype(), a.device())); }

Tensor neg(const Tensor& x) {
  return record("neg", e::neg(x), {x},
                [](const Tensor& g, const std::vector<bool>&) { return Grads{e::neg(g)}; });
}

// d(x^p)/dx = p x^(p-1)
Tensor pow(const Tensor& x, double p) {
  return record("pow", e::pow(x, p), {x},
                [sx = SavedTensor(x), p](const Tensor& g, const std::vector<bool>&) {
                  return Grads{e::mul(g, e::mul(e::pow(sx.get("pow"), p - 1), p))};
                });
}

// d(a^b)/da = b a^(b-1),  d(a^b)/db = a^b log(a)
Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor y = e::pow(a, b);
  return record("pow", y, {a, b},
                [sa = SavedTensor(a), sb = SavedTensor(b), sy = SavedTensor(y)](
                    const Tensor& g, const std::vector<bool>& needs) {
                  Tensor a = sa.get("pow"), b = sb.get("pow");
                  Tensor ga, gb;
                  if (needs[0])
                    ga = e::sum_to(e::mul(g, e::mul(b, e::pow(a, e::add(b, -1.0)))), a.shape());
                  if (needs[1])
                    gb = e::sum_to(e::mul(g, e::mul(sy.get("pow"), e::log(a))), b.shape());
                  return Grads{ga, gb};
                });
}

// d sqrt(x)/dx = 1 / (2 sqrt(x)): saves the output, not the input.
Tensor sqrt(const Tensor& x) {
  Tensor y = e::sqrt(x);
  return record("sqrt", y, {x}, [sy = SavedTensor(y)](const Tensor& g, const std::vector<bool>&) {
    return Grads{e::div(g, e::mul(sy.get("sqrt"), 2.0))};
  });
}

Tensor exp(const Tensor& x) {
  Tensor y = e::exp(x);
  return record("exp", y, {x}, [sy = SavedTensor(y)](const Tensor& g, const std::vector<bool>&) {
    return Grads{e::mul(g, sy.get("exp"))};
  });
}

Tensor log(const Tensor& x) {
  return record("log", e::log(x), {x},
                [sx = SavedTensor(x)](const Tensor& g, const std::vector<bool>&) {
                  return Grads{e::div(g, sx.get("log"))};
                });
}

// d|x|/dx = sign(x), taken as 0 at 0.
Tensor abs(const Tensor& x) {
  return record("abs", e::abs(x), {x},
                [sx = SavedTensor(x)](const Tensor& g, const std::vector<bool>&) {
                  return Grads{e::mul(g, e::sign(sx.get("abs")))};
                });
}

// The gradient passes where lo <= x <= hi.
Tensor clamp(const Tensor& x, double lo, double hi) {
  return record("clamp", e::clamp(x, lo, hi), {x},
                [sx = SavedTensor(x), lo, hi](const Tensor& g, const std::vector<bool>&) {
                  Tensor x = sx.get("clamp");
                  return Grads{e::mul(g, e::mul(e::ge(x, lo), e::le(x, hi)))};
                });
}

Tensor clamp_min(const Tensor& x, double lo) {
  return clamp(x, lo, std::numeric_limits<double>::infinity());
}

Tensor relu(const Tensor& x) {
  Tensor y = e::relu_forward(x);
  return record("relu", y, {x}, [sy = SavedTensor(y)](const Tensor& g, const std::vector<bool>&) {
    return Grads{e::relu_backward(g, sy.get("relu"))};
  });
}

// Forward: max(a + b, 0). Backward: the ReLU's gradient (where the output is positive), which
// the sum hands to a and b alike, from pieces summed inside it (relu_output.h).
Tensor add_relu(const Tensor& a, const Tensor& b) {
  return detail::record_relu_output(
      "add_relu", e::add_relu_forward(a, b), {a, b},
      [](const Tensor& d, const std::vector<bool>& needs) {
        return Grads{needs[0] ? d : Tensor(), needs[1] ? d : Tensor()};
      });
}

// The gradient goes to a where cond holds, to b elsewhere; cond gets none.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  return record("where", e::where(cond, a, b), {cond, a, b},
                [sc = SavedTensor(cond), sa = a.shape(), sb = b.shape()](
                    const Tensor& g, const std::vector<bool>& needs) {
                  Tensor c = sc.get("where");
                  Tensor zero = Tensor::scalar(0.0, g.dtype(), g.device());
                  return Grads{Tensor(), needs[1] ? e::sum_to(e::where(c, g, zero), sa) : Tensor(),
                               needs[2] ? e::sum_to(e::where(c, zero, g), sb) : Tensor()};
                });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return add(a, -b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator/(const Tensor& a, double b) { return mul(a, 1.0 / b); }

// ---- in place ---------------------------------------------------------------------------------
namespace {
void check_inplace_allowed(const Tensor& self) {
  SG_CHECK(!(GradMode::is_enabled() && self.requires_grad()),
           "in-place update of a tensor of shape ", shape_str(self.shape()),
           " that requires grad while grad mode is on: wrap parameter updates in NoGradGuard");
}
}  // namespace

void add_(const Tensor& self, const Tensor& other) {
  check_inplace_allowed(self);
  e::add_(self, other);
}
void sub_(const Tensor& self, const Tensor& other) {
  check_inplace_allowed(self);
  e::sub_(self, other);
}
void mul_(const Tensor& self, const Tensor& other) {
  check_inplace_allowed(self);
  e::mul_(self, other);
}
void add_(const Tensor& self, double value) {
  check_inplace_allowed(self);
  e::add_(self, value);
}
void mul_(const Tensor& self, double value) {
  check_inplace_allowed(self);
  e::mul_(self, value);
}
void copy_(const Tensor& dst, const Tensor& src) {
  check_inplace_allowed(dst);
  e::copy_(dst, src);
}
void zero_(const Tensor& t) {
  check_inplace_allowed(t);
  e::fill_(t, 0.0);
}

}  // namespace sg
