// Gradient flow, parameter by parameter, through real (tiny) Siamese networks and the real
// losses of ssl/: which parameters and inputs get a gradient (autograd/grad_flow.h), and where
// the stop-gradients cut. `ctest -R flow\.` runs them all, `ctest -R flow.gsg` the GSG ones.
//
// The probe that isolates the targets: a head that detaches its input, h(z) = pred(sg(z)).
// Then the only way from the loss into the encoder is through the targets, so with the losses'
// stop-gradients the encoder gets *none* and without them *nonzero*: removing any one detach
// from ssl/losses.cpp turns some encoder parameter nonzero and fails the suite.
#include <doctest/doctest.h>

#include <set>

#include "autograd/grad_flow.h"
#include "autograd/graph_dot.h"
#include "ssl/byol.h"
#include "ssl/heads.h"
#include "ssl/losses.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::perm_of;
using sg::testing::rows_with_gradient;
using sg::testing::t64;

namespace {

constexpr int64_t kBatch = 8, kWidth = 4, kDim = 16, kPred = 4;

struct Views {
  Tensor x1, x2;
};
Views views(uint64_t seed) {
  Generator g(seed);
  return {normal({kBatch, 3, 8, 8}, 0, 1, g), normal({kBatch, 3, 8, 8}, 0, 1, g)};
}

// zero_init_residual off: with gamma = 0 at the start each block's convolutions get exactly
// zero gradient, and these tests check that every parameter meant to get gradient does.
SiameseNet tiny_net() {
  SiameseOptions o;
  o.width = kWidth;
  o.dim = kDim;
  o.pred_dim = kPred;
  o.zero_init_residual = false;
  o.seed = 7;
  return SiameseNet(o);
}

// Expectations by module prefix: every parameter of the encoder (backbone + projector) in one
// state, the predictor's in another.
std::function<GradState(const std::string&)> expect(GradState encoder, GradState predictor) {
  return
      [=](const std::string& name) { return name.starts_with("predictor.") ? predictor : encoder; };
}

void check_flow(const GradFlowReport& r, const std::function<GradState(const std::string&)>& e) {
  std::string mismatches = r.mismatches(e);
  CHECK_MESSAGE(mismatches.empty(), mismatches);
}

// Four images in pairs (0,1) and (2,3), d = 4, built so that GSG's choice is known: image 0's
// views sit at x = 0 and 10, image 1's at 1 and 20 (closest: view 1 of 0 and view 1 of 1);
// image 2's at y = 5 and -5, image 3's at -6 and 50 (closest: view 2 of 2 and view 1 of 3).
// Every row is shifted by 100 in the last coordinate (distances unchanged, norms non-zero).
struct HandMade {
  Tensor z1 = t64({0, 0, 0, 100, 1, 0, 0, 100, 0, 5, 0, 100, 0, -6, 0, 100}, {4, 4});
  Tensor z2 = t64({10, 0, 0, 100, 20, 0, 0, 100, 0, -5, 0, 100, 0, 50, 0, 100}, {4, 4});
  Tensor perm = perm_of({1, 0, 3, 2});
  // Sources per view (rows of z1 / z2 that feed the predictor), and targets.
  std::set<int64_t> source1{0, 1, 3}, source2{2};
  std::set<int64_t> target1{2}, target2{0, 1, 3};
};

}  // namespace

TEST_CASE("flow.simsiam") {
  SiameseNet net = tiny_net();
  Views v = views(1);
  Head h = [&](const Tensor& z) { return (*net.predictor)(z); };
  Head h_probe = [&](const Tensor& z) { return (*net.predictor)(detach(z)); };
  NamedTensors params = net.named_parameters();

  SUBCASE("with stop-gradient and predictor: every parameter learns") {
    auto r = grad_flow(simsiam_loss(net.encode(v.x1), net.encode(v.x2), h), params);
    check_flow(r, expect(GradState::Nonzero, GradState::Nonzero));
  }
  SUBCASE("the targets carry no gradient into the encoder") {
    auto r = grad_flow(simsiam_loss(net.encode(v.x1), net.encode(v.x2), h_probe), params);
    check_flow(r, expect(GradState::None, GradState::Nonzero));
  }
  SUBCASE("without stop-gradient they do") {
    auto r = grad_flow(simsiam_loss(net.encode(v.x1), net.encode(v.x2), h_probe, {false}), params);
    check_flow(r, expect(GradState::Nonzero, GradState::Nonzero));
  }
  SUBCASE("without predictor: the predictor gets none, the encoder still learns") {
    Head identity = [](const Tensor& z) { return z; };
    auto r = grad_flow(simsiam_loss(net.encode(v.x1), net.encode(v.x2), identity), params);
    check_flow(r, expect(GradState::Nonzero, GradState::None));
  }
  SUBCASE("one term: the target view's input gets none") {
    Tensor x1 = engine::clone(v.x1).set_requires_grad(true);
    Tensor x2 = engine::clone(v.x2).set_requires_grad(true);
    Tensor z1 = net.encode(x1), z2 = net.encode(x2);
    auto r = grad_flow(negative_cosine(h(z1), detach(z2)), {{"x1", x1}, {"x2", x2}});
    CHECK(r.at("x1").state == GradState::Nonzero);
    CHECK(r.at("x2").state == GradState::None);
    // Kept in the graph with a zero weight, x2 gets a gradient of exactly zero, not none.
    z1 = net.encode(x1), z2 = net.encode(x2);
    r = grad_flow(negative_cosine(h(z1), detach(z2)) + sum(z2) * 0.0, {{"x1", x1}, {"x2", x2}});
    CHECK(r.at("x2").state == GradState::Zero);
  }
}

TEST_CASE("flow.gsg.simsiam") {
  SiameseNet net = tiny_net();
  Views v = views(2);
  Head h = [&](const Tensor& z) { return (*net.predictor)(z); };
  Head h_probe = [&](const Tensor& z) { return (*net.predictor)(detach(z)); };
  NamedTensors params = net.named_parameters();
  Generator gen(3);
  Tensor perm = randperm(kBatch, gen);
  auto loss = [&](const Head& head, SslOptions o) {
    Tensor z1 = net.encode(v.x1), z2 = net.encode(v.x2);
    return gsg_loss(z1, z2, perm, gsg_select(z1, z2, perm), head, o);
  };

  SUBCASE("every parameter learns") {
    check_flow(grad_flow(loss(h, {}), params), expect(GradState::Nonzero, GradState::Nonzero));
  }
  SUBCASE("the targets carry no gradient into the encoder") {
    check_flow(grad_flow(loss(h_probe, {}), params), expect(GradState::None, GradState::Nonzero));
  }
  SUBCASE("without stop-gradient they do") {
    check_flow(grad_flow(loss(h_probe, {false}), params),
               expect(GradState::Nonzero, GradState::Nonzero));
  }
  SUBCASE("without predictor the encoder still learns") {
    Head identity = [](const Tensor& z) { return z; };
    check_flow(grad_flow(loss(identity, {}), params), expect(GradState::Nonzero, GradState::None));
  }
}

// Per sample, on the hand-made batch: exactly the chosen sources carry gradient into the
// predictor, the targets none; without stop-gradient the targets get it too.
TEST_CASE("flow.gsg.simsiam_per_sample") {
  HandMade m;
  GsgChoice c = gsg_select(m.z1, m.z2, m.perm);
  CHECK(c.a == std::vector<int>{0, 0, 1, 0});  // the choice the batch was built for
  CHECK(c.b == std::vector<int>{0, 0, 0, 1});
  Generator gen(4);
  Linear pred(4, 4, gen);
  pred.to(DType::Float64);
  Head h = [&](const Tensor& z) { return pred(z); };
  Head h_probe = [&](const Tensor& z) { return pred(detach(z)); };
  Tensor z1 = engine::clone(m.z1).set_requires_grad(true);
  Tensor z2 = engine::clone(m.z2).set_requires_grad(true);

  backward(gsg_loss(z1, z2, m.perm, c, h));
  CHECK(rows_with_gradient(z1) == m.source1);
  CHECK(rows_with_gradient(z2) == m.source2);
  CHECK(pred.weight.grad().defined());

  z1.set_grad(Tensor()), z2.set_grad(Tensor());
  auto r = grad_flow(gsg_loss(z1, z2, m.perm, c, h_probe), {{"z1", z1}, {"z2", z2}});
  CHECK(r.at("z1").state == GradState::None);  // targets: cut by the stop-gradient
  CHECK(r.at("z2").state == GradState::None);

  z1.set_grad(Tensor()), z2.set_grad(Tensor());
  backward(gsg_loss(z1, z2, m.perm, c, h_probe, {false}));
  CHECK(rows_with_gradient(z1) == m.target1);  // --no-stop-grad: exactly the targets
  CHECK(rows_with_gradient(z2) == m.target2);
}

TEST_CASE("flow.byol") {
  SiameseNet online = tiny_net();
  TargetNetwork target(online);
  Views v = views(5);
  Head h = [&](const Tensor& z) { return (*online.predictor)(z); };
  Head h_probe = [&](const Tensor& z) { return (*online.predictor)(detach(z)); };
  NamedTensors online_params = online.named_parameters();
  NamedTensors target_params = target.net().named_parameters();

  for (bool gsg : {false, true}) {
    CAPTURE(gsg);
    for (bool probe : {false, true}) {
      CAPTURE(probe);
      Tensor z1 = online.encode(v.x1), z2 = online.encode(v.x2);
      Tensor t1 = target.encode(v.x1), t2 = target.encode(v.x2);
      // The target's state after its forward (BatchNorm running statistics move there): backward
      // must change none of it.
      std::vector<std::vector<double>> before;
      for (const auto& [n, b] : target.net().named_buffers()) before.push_back(b.to_vector());
      for (const auto& [n, p] : target_params) before.push_back(p.to_vector());
      const Head& head = probe ? h_probe : h;
      Tensor loss;
      if (gsg) {
        Generator gen(6);
        Tensor perm = randperm(kBatch, gen);
        loss = gsg_loss(z1, z2, t1, t2, perm, gsg_select(t1, t2, perm), head);
      } else {
        loss = byol_loss(z1, z2, t1, t2, head);
      }
      for (const auto& [n, p] : target_params) p.set_grad(Tensor());
      auto r = grad_flow(loss, online_params);
      // Online: backbone, projector and predictor learn; with the probe head nothing reaches
      // the encoder, since BYOL's targets are constants.
      check_flow(r, expect(probe ? GradState::None : GradState::Nonzero, GradState::Nonzero));
      // Target: no gradient anywhere, BatchNorm parameters included, and nothing changed.
      check_flow(grad_flow_report(target_params),
                 [](const std::string&) { return GradState::None; });
      std::vector<std::vector<double>> after;
      for (const auto& [n, b] : target.net().named_buffers()) after.push_back(b.to_vector());
      for (const auto& [n, p] : target_params) after.push_back(p.to_vector());
      CHECK(after == before);
    }
  }
  // The loss cuts its targets itself, not only because the target network records no graph:
  // targets that could take gradient get none.
  Tensor z1 = online.encode(v.x1), z2 = online.encode(v.x2);
  Tensor t1 = engine::clone(target.encode(v.x1)).set_requires_grad(true);
  Tensor t2 = engine::clone(target.encode(v.x2)).set_requires_grad(true);
  auto r = grad_flow(byol_loss(z1, z2, t1, t2, h), {{"t1", t1}, {"t2", t2}});
  CHECK(r.at("t1").state == GradState::None);
  CHECK(r.at("t2").state == GradState::None);
}

// BYOL-GSG per sample: the choice is made on the target projections, the online rows of the
// chosen sources carry predictor gradient and no target row receives any (the targets are
// marked requires_grad here so that a missing detach would show).
TEST_CASE("flow.gsg.byol_per_sample") {
  HandMade m;
  Generator gen(8);
  Tensor z1 = normal({4, 4}, 0, 1, gen, DType::Float64).set_requires_grad(true);
  Tensor z2 = normal({4, 4}, 0, 1, gen, DType::Float64).set_requires_grad(true);
  Tensor t1 = engine::clone(m.z1).set_requires_grad(true);
  Tensor t2 = engine::clone(m.z2).set_requires_grad(true);
  GsgChoice c = gsg_select(t1, t2, m.perm);
  CHECK(c.a == std::vector<int>{0, 0, 1, 0});
  Linear pred(4, 4, gen);
  pred.to(DType::Float64);
  backward(gsg_loss(z1, z2, t1, t2, m.perm, c, [&](const Tensor& z) { return pred(z); }));
  CHECK(rows_with_gradient(z1) == m.source1);
  CHECK(rows_with_gradient(z2) == m.source2);
  auto r = grad_flow_report({{"t1", t1}, {"t2", t2}});
  CHECK(r.at("t1").state == GradState::None);
  CHECK(r.at("t2").state == GradState::None);
}

TEST_CASE("grad_flow.report_and_mismatches") {
  Tensor used = t64({1, 2}, {2}).set_requires_grad(true);
  Tensor zeroed = t64({3}, {1}).set_requires_grad(true);
  Tensor unused = t64({4}, {1}).set_requires_grad(true);
  auto r = grad_flow(sum(used * 2.0) + sum(zeroed * 0.0),
                     {{"used", used}, {"zeroed", zeroed}, {"unused", unused}});
  CHECK(r.at("used").state == GradState::Nonzero);
  CHECK(r.at("used").norm == doctest::Approx(std::sqrt(8.0)));
  CHECK(r.at("zeroed").state == GradState::Zero);
  CHECK(r.at("unused").state == GradState::None);
  CHECK(r.mismatches([](const std::string&) { return GradState::Nonzero; }) ==
        "zeroed: expected nonzero, got zero\nunused: expected nonzero, got none\n");
  CHECK(r.named(GradState::None) == std::vector<std::string>{"unused"});
  CHECK_THROWS_WITH_AS(r.at("nope"), doctest::Contains("'nope' was not among"), Error);
  CHECK(r.table().find("unused") != std::string::npos);
}

// autograd/graph_dot.h on the real losses: SimSiam and SimSiam-GSG show exactly their two
// stop-gradient cuts as dashed edges; without stop-gradient there are none; BYOL's graph has
// no node or leaf of the target network.
TEST_CASE("flow.graph_shows_the_cuts") {
  GraphCaptureGuard capture;
  SiameseNet net = tiny_net();
  TargetNetwork target(net);
  Views v = views(9);
  Head h = [&](const Tensor& z) { return (*net.predictor)(z); };
  NamedTensors names = net.named_parameters();
  for (const auto& [n, p] : target.net().named_parameters()) names.emplace_back("target." + n, p);
  auto cuts_drawn = [](const std::string& dot) {
    int n = 0;
    for (size_t at = dot.find("style=dashed"); at != std::string::npos;
         at = dot.find("style=dashed", at + 1))
      ++n;
    return n;
  };
  Tensor z1 = net.encode(v.x1), z2 = net.encode(v.x2);
  Tensor simsiam = simsiam_loss(z1, z2, h);
  CHECK(count_stop_gradient_cuts(simsiam) == 2);
  std::string dot = graph_to_dot(simsiam, names);
  CHECK(cuts_drawn(dot) == 2);
  CHECK(dot.find("label=\"backbone.conv1.weight\"") != std::string::npos);  // leaves by name
  CHECK(dot.find("stop-gradient [8, 16]") != std::string::npos);            // shape at the cut
  CHECK(count_stop_gradient_cuts(simsiam_loss(z1, z2, h, {false})) == 0);

  Generator gen(3);
  Tensor perm = randperm(kBatch, gen);
  Tensor gsg = gsg_loss(z1, z2, perm, gsg_select(z1, z2, perm), h);
  CHECK(count_stop_gradient_cuts(gsg) == 2);
  CHECK(cuts_drawn(graph_to_dot(gsg, names)) == 2);

  Tensor t1 = target.encode(v.x1), t2 = target.encode(v.x2);
  std::string byol = graph_to_dot(byol_loss(z1, z2, t1, t2, h), names);
  CHECK(byol.find("target.") == std::string::npos);
  CHECK(byol.find("label=\"predictor.fc1.weight\"") != std::string::npos);
}
