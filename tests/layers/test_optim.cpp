#include <doctest/doctest.h>

#include <cmath>

#include "layers/optim.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::check_values;

namespace {
Tensor param(double v) { return Tensor::from_vector({v}, {1}).set_requires_grad(true); }
}  // namespace

TEST_CASE("optim.sgd_momentum_weight_decay_by_hand") {
  Tensor p = param(1.0);
  SGD sgd({ParamGroup{{{"p", p}}, 0.1, 0.1}}, 0.9);
  p.set_grad(Tensor::from_vector({0.5}, {1}));
  sgd.step();  // d = 0.5 + 0.1 * 1 = 0.6; buf = 0.6; p = 1 - 0.06
  check_values(p, {0.94}, 1e-6);
  sgd.step();  // d = 0.5 + 0.094 = 0.594; buf = 0.54 + 0.594 = 1.134; p = 0.94 - 0.1134
  check_values(p, {0.8266}, 1e-6);
  CHECK(sgd.steps() == 2);
}

TEST_CASE("optim.sgd_nesterov_by_hand") {
  Tensor p = param(1.0);
  SGD sgd({ParamGroup{{{"p", p}}, 0.1, 0.0}}, 0.9, /*nesterov=*/true);
  p.set_grad(Tensor::from_vector({1.0}, {1}));
  sgd.step();  // buf = 1; step = d + 0.9 buf = 1.9
  check_values(p, {0.81}, 1e-6);
}

TEST_CASE("optim.lars_trust_ratio_and_exclusions") {
  Tensor w = Tensor::from_vector({3, 4}, {2}).set_requires_grad(true);  // |w| = 5
  Tensor b = param(1.0);
  std::vector<ParamGroup> groups{{{{"w", w}}, 1.0, 0.0, false, false},
                                 {{{"b", b}}, 1.0, 0.0, false, true}};
  LARS lars(groups, 0.0, /*eta=*/0.1);
  w.set_grad(Tensor::from_vector({0, 2}, {2}));  // |g| = 2: trust = 0.1 * 5 / 2 = 0.25
  b.set_grad(Tensor::from_vector({2}, {1}));     // excluded: plain SGD
  lars.step();
  check_values(w, {3, 3.5}, 1e-6);
  check_values(b, {-1}, 1e-6);
}

// layers/optim.h: parameters excluded from LARS get neither trust ratio nor weight decay,
// even when their group carries one; SGD applies the group's weight decay.
TEST_CASE("optim.lars_excluded_parameters_get_no_weight_decay") {
  Tensor b = param(1.0), c = param(1.0);
  LARS lars({{{{"b", b}}, 1.0, 0.5, false, true}}, 0.0);
  SGD sgd({{{{"c", c}}, 1.0, 0.5, false, true}}, 0.0);
  b.set_grad(Tensor::from_vector({2}, {1}));
  c.set_grad(Tensor::from_vector({2}, {1}));
  lars.step();
  sgd.step();
  check_values(b, {-1}, 1e-6);    // 1 - 1 * 2
  check_values(c, {-1.5}, 1e-6);  // 1 - 1 * (2 + 0.5 * 1)
}

TEST_CASE("optim.groups_fixed_lr_and_schedule") {
  auto groups = weight_and_norm_groups(
      {{"fc.weight", Tensor::zeros({2, 2})}, {"fc.bias", Tensor::zeros({2})}}, 0.5, 1e-4);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].params[0].first == "fc.weight");
  CHECK(groups[1].weight_decay == 0);
  CHECK(groups[1].exclude_from_lars);
  groups[1].fixed_lr = true;
  SGD sgd(groups);
  sgd.set_lr(0.01);
  CHECK(sgd.groups()[0].lr == 0.01);
  CHECK(sgd.groups()[1].lr == 0.5);
  CHECK(cosine_lr(1.0, 0, 10) == doctest::Approx(1.0));
  CHECK(cosine_lr(1.0, 5, 10) == doctest::Approx(0.5));
  CHECK(cosine_lr(1.0, 10, 10) == doctest::Approx(0.0));
  CHECK(cosine_lr(1.0, 0, 10, 2) == doctest::Approx(0.5));  // warm-up: (step + 1) / warmup
  CHECK(cosine_lr(1.0, 2, 10, 2) == doctest::Approx(1.0));
}

TEST_CASE("optim.state_round_trip") {
  Tensor p = param(1.0);
  SGD a({ParamGroup{{{"p", p}}, 0.1, 0.0}});
  p.set_grad(Tensor::from_vector({1.0}, {1}));
  a.step();
  Tensor q = param(1.0);
  SGD b({ParamGroup{{{"p", q}}, 0.1, 0.0}});
  b.load_state_dict(a.state_dict());
  CHECK(b.steps() == 1);
  CHECK(b.state_dict()[0].second.item() == 1.0);
  CHECK_THROWS_WITH_AS(b.load_state_dict({{"q.momentum_buffer", Tensor::zeros({1})}}),
                       doctest::Contains("missing tensor: p.momentum_buffer"), Error);
}
