#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "ssl/byol.h"
#include "ssl/heads.h"
#include "ssl/knn.h"
#include "ssl/losses.h"
#include "ssl/spectrum.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::perm_of;
using sg::testing::rows_with_gradient;
using sg::testing::t64;

TEST_CASE("gsg.selection_matches_brute_force") {
  Generator gen(5);
  for (int trial = 0; trial < 20; ++trial) {
    Tensor z1 = normal({6, 3}, 0, 1, gen, DType::Float64),
           z2 = normal({6, 3}, 0, 1, gen, DType::Float64);
    Tensor perm = randperm(6, gen);
    GsgChoice c = gsg_select(z1, z2, perm);
    std::array<int64_t, 4> counts{};
    for (int64_t i = 0; i < 6; ++i) {
      int64_t j = int64_t(perm.at({i}));
      double best = INFINITY;
      int ba = -1, bb = -1;
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) {
          const Tensor& za = a == 0 ? z1 : z2;
          const Tensor& zb = b == 0 ? z1 : z2;
          double d = 0;
          for (int64_t k = 0; k < 3; ++k) d += std::pow(za.at({i, k}) - zb.at({j, k}), 2);
          if (d < best) best = d, ba = a, bb = b;
        }
      CHECK(c.a[i] == ba);
      CHECK(c.b[i] == bb);
      ++counts[ba * 2 + bb];
    }
    CHECK(c.counts == counts);
  }
}

TEST_CASE("gsg.hand_made_projections") {
  // Image 0: views at (0,0) and (10,0); image 1 (its partner): views at (1,0) and (20,0).
  // Closest cross pair: view 1 of image 0 and view 1 of image 1 (distance 1).
  Tensor z1 = t64({0, 0, 1, 0}, {2, 2}), z2 = t64({10, 0, 20, 0}, {2, 2});
  GsgChoice c = gsg_select(z1, z2, perm_of({1, 0}));
  CHECK(c.a[0] == 0);
  CHECK(c.b[0] == 0);
  CHECK(c.counts[0] == 2);  // and symmetric for image 1
}

TEST_CASE("gsg.only_chosen_sources_carry_predictor_gradient") {
  Generator gen(2);
  for (bool with_predictor : {true, false}) {
    CAPTURE(with_predictor);
    Tensor z1 = normal({8, 4}, 0, 1, gen, DType::Float64).set_requires_grad(true);
    Tensor z2 = normal({8, 4}, 0, 1, gen, DType::Float64).set_requires_grad(true);
    Tensor perm = randperm(8, gen);
    Linear pred(4, 4, gen);
    pred.to(DType::Float64);
    Head h = with_predictor ? Head([&](const Tensor& x) { return pred(x); })
                            : Head([](const Tensor& x) { return x; });
    GsgChoice c = gsg_select(z1, z2, perm);
    backward(gsg_loss(z1, z2, perm, c, h));
    // Expected: a row of z1 (z2) gets gradient exactly when it is a source: chosen as view a of
    // its own image, or as view b of the image it partners.
    std::set<int64_t> source1, source2;
    for (int64_t i = 0; i < 8; ++i) {
      (c.a[i] == 0 ? source1 : source2).insert(i);
      (c.b[i] == 0 ? source1 : source2).insert(int64_t(perm.at({i})));
    }
    CHECK(rows_with_gradient(z1) == source1);
    CHECK(rows_with_gradient(z2) == source2);
    if (with_predictor) CHECK(pred.weight.grad().defined());
  }
}

TEST_CASE("simsiam.stop_gradient_on_targets") {
  Generator gen(3);
  Tensor z1 = normal({4, 3}, 0, 1, gen, DType::Float64).set_requires_grad(true);
  Tensor z2 = normal({4, 3}, 0, 1, gen, DType::Float64).set_requires_grad(true);
  Linear pred(3, 3, gen);
  pred.to(DType::Float64);
  Head h = [&](const Tensor& x) { return pred(x); };
  // Each z gets gradient only through h(z); compare with a loss where targets are constants.
  backward(simsiam_loss(z1, z2, h));
  Tensor g1 = engine::clone(z1.grad());
  z1.set_grad(Tensor());
  z2.set_grad(Tensor());
  Tensor c1 = engine::clone(z1), c2 = engine::clone(z2);
  backward(negative_cosine(h(z1), c2) * 0.5 + negative_cosine(h(z2), c1) * 0.5);
  CHECK(sg::testing::max_abs_diff(g1, z1.grad()) < 1e-12);
  // Without stop-gradient the targets add their own gradient.
  z1.set_grad(Tensor());
  backward(simsiam_loss(z1, z2, h, {false}));
  CHECK(sg::testing::max_abs_diff(g1, z1.grad()) > 1e-6);
}

TEST_CASE("metrics.z_std") {
  Generator gen(4);
  CHECK(z_std(normal({4096, 64}, 0, 1, gen)) == doctest::Approx(1.0).epsilon(0.03));
  Tensor collapsed = engine::expand(normal({1, 64}, 0, 1, gen), {512, 64});
  CHECK(z_std(engine::contiguous(collapsed)) < 1e-3);
}

TEST_CASE("knn.toy_set") {
  // Three classes around three directions; test points are slightly perturbed copies.
  Generator gen(6);
  std::vector<double> train, test;
  std::vector<int64_t> train_labels, test_labels;
  for (int i = 0; i < 60; ++i) {
    int c = i % 3;
    for (int d = 0; d < 3; ++d) train.push_back((d == c ? 1.0 : 0.0) + 0.1 * gen.normal());
    train_labels.push_back(c);
  }
  for (int i = 0; i < 30; ++i) {
    int c = (i * 7) % 3;
    for (int d = 0; d < 3; ++d) test.push_back((d == c ? 1.0 : 0.0) + 0.1 * gen.normal());
    test_labels.push_back(c);
  }
  Tensor tr = Tensor::from_vector(train, {60, 3}), te = Tensor::from_vector(test, {30, 3});
  CHECK(knn_accuracy(tr, train_labels, te, test_labels, 3, 20, 0.1) == 1.0);
  // k = 1 by hand: a test point equal to one training point takes that point's label.
  Tensor one = engine::narrow(tr, 0, 5, 1);
  std::vector<int64_t> wrong_label{(train_labels[5] + 1) % 3};
  CHECK(knn_accuracy(tr, train_labels, one, wrong_label, 3, 1, 0.1) == 0.0);
}

TEST_CASE("ema.update_values") {
  Tensor target = Tensor::from_vector({1, 2, 3}, {3}), online = Tensor::from_vector({3, 2, 1}, {3});
  engine::ema_update(target, online, 0.9);  // 0.9 * t + 0.1 * o
  sg::testing::check_values(target, {1.2, 2.0, 2.8}, 1e-6);
  Tensor t64 = Tensor::from_vector({1}, {1}, DType::Float64);
  engine::ema_update(t64, Tensor::from_vector({0}, {1}, DType::Float64), 0.25);
  CHECK(t64.item() == 0.25);
  CHECK(byol_tau(0.99, 0, 100) == doctest::Approx(0.99));
  CHECK(byol_tau(0.99, 50, 100) == doctest::Approx(0.995));
  CHECK(byol_tau(0.99, 100, 100) == doctest::Approx(1.0));
}

TEST_CASE("byol.target_never_receives_gradient_and_follows_by_ema") {
  SiameseOptions o;
  o.width = 4;
  o.dim = 16;
  o.pred_dim = 4;
  o.seed = 1;
  SiameseNet online(o);
  TargetNetwork target(online);
  Generator gen(2);
  Tensor x1 = normal({8, 3, 8, 8}, 0, 1, gen), x2 = normal({8, 3, 8, 8}, 0, 1, gen);
  Head h = [&](const Tensor& z) { return (*online.predictor)(z); };
  for (bool gsg : {false, true}) {
    Tensor z1 = online.encode(x1), z2 = online.encode(x2);
    Tensor t1 = target.encode(x1), t2 = target.encode(x2);
    CHECK_FALSE(t1.requires_grad());
    Tensor loss;
    if (gsg) {
      Tensor perm = randperm(8, gen);
      GsgChoice c = gsg_select(t1, t2, perm);  // BYOL-GSG: distances on target projections
      loss = gsg_loss(z1, z2, t1, t2, perm, c, h);
    } else {
      loss = byol_loss(z1, z2, t1, t2, h);
    }
    online.zero_grad();
    backward(loss);
    // Named copies, not structured bindings: clang 14's lambdas (in CHECK_MESSAGE) cannot
    // capture bindings.
    for (const auto& named : target.net().named_parameters()) {
      const std::string name = named.first;
      CHECK_MESSAGE(!named.second.grad().defined(), name);
    }
    for (const auto& named : online.named_parameters()) {
      const std::string name = named.first;
      if (name.find("weight") != std::string::npos && name.find("bn") == std::string::npos)
        CHECK_MESSAGE(named.second.grad().defined(), name);
    }
  }
  Tensor online_w = online.backbone->named_parameters()[0].second;
  Tensor target_w = target.net().backbone->named_parameters()[0].second;
  CHECK(online_w.to_vector() == target_w.to_vector());  // starts as a copy
  double before = target_w.at({0, 0, 0, 0});
  {
    NoGradGuard no_grad;
    add_(online_w, 1.0);
  }
  target.update(0.9);
  CHECK(target_w.at({0, 0, 0, 0}) == doctest::Approx(0.9 * before + 0.1 * (before + 1.0)));
}

// ssl/spectrum.h: collapsed embeddings have effective rank 1, isotropic ones about d; the
// eigenvalues of unit rows' covariance sum to at most 1.
TEST_CASE("metrics.embedding_spectrum") {
  Generator gen(11);
  Tensor collapsed = engine::contiguous(engine::expand(normal({1, 32}, 0, 1, gen), {256, 32}));
  Spectrum c = embedding_spectrum(collapsed);
  CHECK(c.effective_rank == 1.0);
  CHECK(c.eigenvalues.size() == 32);
  CHECK(c.eigenvalues[0] == 0.0);
  Spectrum iso = embedding_spectrum(normal({8192, 32}, 0, 1, gen));
  CHECK(iso.effective_rank > 30.5);  // of 32: sampling noise keeps it a little below d
  CHECK(iso.effective_rank <= 32.0);
  double total = 0;
  for (size_t k = 0; k < iso.eigenvalues.size(); ++k) {
    total += iso.eigenvalues[k];
    if (k > 0) CHECK(iso.eigenvalues[k] <= iso.eigenvalues[k - 1]);
  }
  CHECK(total == doctest::Approx(1.0).epsilon(0.01));
  // Two directions only (rows +-u and +-v): rank 2.
  std::vector<double> rows;
  for (int i = 0; i < 400; ++i)
    for (int j = 0; j < 8; ++j) rows.push_back(j == (i % 2) ? (i % 4 < 2 ? 1.0 : -1.0) : 0.0);
  CHECK(embedding_spectrum(Tensor::from_vector(rows, {400, 8})).effective_rank ==
        doctest::Approx(2.0).epsilon(1e-6));
}

// Fewer rows than dimensions: the spectrum comes from the n x n Gram matrix, the same
// non-zero eigenvalues as the d x d covariance.
TEST_CASE("metrics.embedding_spectrum_wide") {
  Generator gen(12);
  Tensor z = normal({40, 64}, 0, 1, gen, DType::Float64);
  Spectrum wide = embedding_spectrum(z);
  Spectrum tall = embedding_spectrum(engine::contiguous(engine::transpose(
      engine::transpose(z, 0, 1), 0, 1)));  // same data, checks the path is deterministic
  CHECK(wide.eigenvalues == tall.eigenvalues);
  CHECK(wide.eigenvalues.size() == 64);
  for (size_t k = 40; k < 64; ++k) CHECK(wide.eigenvalues[k] == 0.0);  // rank <= n - 1
  CHECK(wide.effective_rank < 40.0);
  // Against the d x d route: duplicate the rows so n > d; the eigenvalues scale by (n-1)/(2n-1).
  Tensor twice = engine::cat({z, z}, 0);
  Spectrum big = embedding_spectrum(twice);
  for (size_t k = 0; k < 39; ++k)
    CHECK(big.eigenvalues[k] ==
          doctest::Approx(wide.eigenvalues[k] * 39.0 / 79.0 * 2.0).epsilon(1e-6));
}
