// The four-view GSG of the paper's code against a brute-force computation, the per-method step
// train_cifar10 runs (ssl/ssl_step.h), BYOL's tau schedules and the blocked kNN.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>
#include <set>

#include "engine/profile.h"
#include "ssl/knn.h"
#include "ssl/ssl_step.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::rows_with_gradient;

namespace {

double cosine(const Tensor& a, int64_t i, const Tensor& b, int64_t j) {
  double dot = 0, na = 0, nb = 0;
  for (int64_t k = 0; k < a.shape()[1]; ++k) {
    dot += a.at({i, k}) * b.at({j, k});
    na += a.at({i, k}) * a.at({i, k});
    nb += b.at({j, k}) * b.at({j, k});
  }
  return dot / std::sqrt(na * nb);
}

double squared_distance(const Tensor& a, int64_t i, const Tensor& b, int64_t j) {
  double d = 0;
  for (int64_t k = 0; k < a.shape()[1]; ++k) d += std::pow(a.at({i, k}) - b.at({j, k}), 2);
  return d;
}

SiameseNet tiny_net() {
  SiameseOptions o;
  o.width = 4;
  o.dim = 16;
  o.pred_dim = 4;
  o.seed = 3;
  return SiameseNet(o);
}

}  // namespace

TEST_CASE("gsg.four_view.partner_crops_come_from_the_partner") {
  Generator gen(1);
  std::vector<Tensor> z;
  for (int v = 0; v < 4; ++v) z.push_back(normal({6, 3}, 0, 1, gen, DType::Float64));
  Tensor perm = randperm(6, gen);
  GsgCrops c = four_view_crops(z[0], z[1], z[2], z[3], perm);
  for (int64_t i = 0; i < 6; ++i) {
    auto j = int64_t(perm.at({i}));
    for (int64_t k = 0; k < 3; ++k) {
      CHECK(c.a1.at({i, k}) == z[0].at({i, k}));  // image i's own crops 1-2
      CHECK(c.a2.at({i, k}) == z[1].at({i, k}));
      CHECK(c.b1.at({i, k}) == z[2].at({j, k}));  // its partner's crops 3-4
      CHECK(c.b2.at({i, k}) == z[3].at({j, k}));
    }
  }
}

// Hand-made projections, the choice, the loss value and where the gradient goes, each against
// a direct computation from the definition.
TEST_CASE("gsg.four_view.matches_brute_force") {
  Generator gen(7);
  const int64_t n = 8, d = 4;
  for (int trial = 0; trial < 5; ++trial) {
    CAPTURE(trial);
    std::vector<Tensor> z;
    for (int v = 0; v < 4; ++v)
      z.push_back(normal({n, d}, 0, 1, gen, DType::Float64).set_requires_grad(true));
    Tensor perm = randperm(n, gen);
    Linear pred(d, d, gen);
    pred.to(DType::Float64);
    Head h = [&](const Tensor& x) { return pred(x); };
    Tensor p[4];  // the predictor row by row (a Linear layer acts on each row alone)
    for (int v = 0; v < 4; ++v) p[v] = h(z[size_t(v)]);
    GsgCrops crops = four_view_crops(z[0], z[1], z[2], z[3], perm);
    GsgChoice choice = gsg_choose(crops);
    Tensor loss = gsg_crops_loss(four_view_crops(p[0], p[1], p[2], p[3], perm), crops, choice);
    double expected = 0;
    std::array<int64_t, 4> counts{};
    std::set<int64_t> source[4];
    for (int64_t i = 0; i < n; ++i) {
      auto j = int64_t(perm.at({i}));
      int best_a = 0, best_b = 0;
      double best = INFINITY;
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) {
          double dist = squared_distance(z[size_t(a)], i, z[size_t(2 + b)], j);
          if (dist < best) best = dist, best_a = a, best_b = b;
        }
      CHECK(choice.a[size_t(i)] == best_a);
      CHECK(choice.b[size_t(i)] == best_b);
      ++counts[size_t(best_a * 2 + best_b)];
      // Sources: crop best_a of image i, crop 3 + best_b of image j; targets their other crops.
      expected += -0.5 * cosine(p[best_a], i, z[size_t(1 - best_a)], i) -
                  0.5 * cosine(p[2 + best_b], j, z[size_t(2 + 1 - best_b)], j);
      source[best_a].insert(i);
      source[2 + best_b].insert(j);
    }
    expected /= double(n);
    CHECK(choice.counts == counts);
    CHECK(loss.item() == doctest::Approx(expected).epsilon(1e-12));
    backward(loss);
    // Exactly the chosen source rows of the chosen crops carry gradient; targets none.
    for (int v = 0; v < 4; ++v) {
      CAPTURE(v);
      CHECK(rows_with_gradient(z[size_t(v)]) == source[v]);
    }
  }
}

// The predictor has BatchNorm, so which rows it sees together changes its output. The paper's
// code runs it on each crop's whole batch (p11 = predictor(z11)) and then picks rows; the step
// must equal that, here recomputed by hand from the network's own modules.
TEST_CASE("ssl_step.gsg_predictor_sees_each_crop_whole") {
  Generator gen(5);
  const int64_t n = 8;
  SiameseNet net = tiny_net();
  net.to(DType::Float64);
  MethodOptions m;
  m.method = "simsiam-gsg";
  SslStep step(net, m);
  std::vector<Tensor> views;
  for (int v = 0; v < 4; ++v) views.push_back(normal({n, 3, 8, 8}, 0, 1, gen, DType::Float64));
  Tensor perm = randperm(n, gen);
  double loss = step.loss(views, perm).loss.item();

  NoGradGuard no_grad;
  Tensor z[4], p[4];
  for (int v = 0; v < 4; ++v) {
    z[v] = net.encode(views[size_t(v)]);
    p[v] = (*net.predictor)(z[v]);  // all n rows of crop v together
  }
  double expected = 0;
  std::set<int> chosen_a, chosen_b;  // both crops must occur, or picking first would agree
  for (int64_t i = 0; i < n; ++i) {
    auto j = int64_t(perm.at({i}));
    int a = 0, b = 0;
    double best = INFINITY;
    for (int x = 0; x < 2; ++x)
      for (int y = 0; y < 2; ++y)
        if (double dist = squared_distance(z[x], i, z[2 + y], j); dist < best)
          best = dist, a = x, b = y;
    chosen_a.insert(a);
    chosen_b.insert(b);
    expected += -0.5 * cosine(p[a], i, z[1 - a], i) - 0.5 * cosine(p[2 + b], j, z[3 - b], j);
  }
  REQUIRE((chosen_a.size() == 2 || chosen_b.size() == 2));
  CHECK(loss == doctest::Approx(expected / double(n)).epsilon(1e-10));
}

// With bf16 images (--precision bf16) the projector's and the predictor's products run in bf16,
// as PyTorch's autocast runs Linear; the rest of the heads and the loss stay float32.
TEST_CASE("ssl_step.bf16_images_run_the_heads_products_in_bf16") {
  namespace e = sg::engine;
  Generator gen(4);
  SiameseNet net = tiny_net();
  std::vector<Tensor> views;
  for (int v = 0; v < 2; ++v)
    views.push_back(e::to(normal({8, 3, 8, 8}, 0, 1, gen), DType::BFloat16));
  MethodOptions m;
  m.method = "simsiam";
  double loss = SslStep(net, m).loss(views, gen).loss.item();

  NoGradGuard no_grad;
  auto values = [](const Tensor& t) { return e::to_strided(t).to_vector(); };
  Tensor f[2], z[2];
  for (int v = 0; v < 2; ++v) {
    f[v] = net.backbone->features(views[size_t(v)]);
    REQUIRE(f[v].dtype() == DType::Float32);
    z[v] = net.projector->forward(f[v], DType::BFloat16);
  }
  Tensor z_f32_products = net.projector->forward(f[0], DType::Float32);
  CHECK(values(net.encode(views[0])) == values(z[0]));
  CHECK(values(z[0]) != values(z_f32_products));
  Head bf16_predictor = [&](const Tensor& t) { return net.predictor->forward(t, DType::BFloat16); };
  CHECK(loss == simsiam_loss(z[0], z[1], bf16_predictor).item());
  Head f32_predictor = [&](const Tensor& t) { return net.predictor->forward(t, DType::Float32); };
  CHECK(loss != simsiam_loss(z[0], z[1], f32_predictor).item());
}

TEST_CASE("ssl_step.gsg_views_set_the_encoder_passes") {
  Generator gen(2);
  auto conv_calls = [&](const std::string& method, int gsg_views) {
    SiameseNet net = tiny_net();
    MethodOptions m;
    m.method = method;
    m.gsg_views = gsg_views;
    SslStep step(net, m);
    std::vector<Tensor> views;
    for (int v = 0; v < views_per_image(m); ++v) views.push_back(normal({8, 3, 8, 8}, 0, 1, gen));
    Profile profile;
    {
      ProfileScope scope(profile);
      StepLoss out = step.loss(views, gen);
      CHECK(std::isfinite(out.loss.item()));
      int64_t chosen = std::accumulate(out.pair_counts.begin(), out.pair_counts.end(), int64_t(0));
      CHECK(chosen == (method.ends_with("-gsg") ? 8 : 0));
    }
    return profile.calls[size_t(OpKind::Conv)];
  };
  long simsiam = conv_calls("simsiam", 4), gsg4 = conv_calls("simsiam-gsg", 4),
       gsg2 = conv_calls("simsiam-gsg", 2), byol_gsg4 = conv_calls("byol-gsg", 4);
  CHECK(simsiam > 0);
  CHECK(gsg2 == simsiam);           // the cheaper variant: two encoder passes
  CHECK(gsg4 == 2 * simsiam);       // the paper's: four
  CHECK(byol_gsg4 == 4 * simsiam);  // four online and four target passes
}

TEST_CASE("ssl_step.rejects_what_is_not_a_method") {
  SiameseNet net = tiny_net();
  MethodOptions m;
  m.gsg_views = 3;
  CHECK_THROWS_WITH_AS(SslStep(net, m), doctest::Contains("gsg-views 3"), Error);
  m = MethodOptions{};
  m.method = "byol";
  m.stop_grad = false;
  CHECK_THROWS_WITH_AS(SslStep(net, m), doctest::Contains("does not apply to BYOL"), Error);
  m = MethodOptions{};
  SslStep step(net, m);
  Generator gen(1);
  std::vector<Tensor> two{normal({4, 3, 8, 8}, 0, 1, gen), normal({4, 3, 8, 8}, 0, 1, gen)};
  CHECK_THROWS_WITH_AS(step.loss(two, gen), doctest::Contains("expected 4"), Error);
}

TEST_CASE("byol.tau_schedules") {
  for (int64_t s : {0, 37, 100}) CHECK(ema_tau(TauSchedule::Constant, 0.99, s, 100) == 0.99);
  CHECK(ema_tau(TauSchedule::Cosine, 0.99, 0, 100) == doctest::Approx(0.99));
  CHECK(ema_tau(TauSchedule::Cosine, 0.99, 50, 100) == doctest::Approx(0.995));
  CHECK(ema_tau(TauSchedule::Cosine, 0.99, 100, 100) == doctest::Approx(1.0));
  CHECK(parse_tau_schedule("constant") == TauSchedule::Constant);
  CHECK(parse_tau_schedule("cosine") == TauSchedule::Cosine);
  CHECK_THROWS_WITH_AS(parse_tau_schedule("linear"), doctest::Contains("constant or cosine"),
                       Error);
  // The step applies it: after one constant-tau update the target moved by (1 - tau).
  SiameseNet net = tiny_net();
  MethodOptions m;
  m.method = "byol";
  m.tau = 0.9;
  SslStep step(net, m);
  NoGradGuard no_grad;
  Tensor online = net.named_parameters().front().second;
  Tensor target = step.target()->net().named_parameters().front().second;
  Tensor before = engine::clone(target);
  engine::copy_(online, engine::add(online, Tensor::full(online.shape(), 1.0, online.dtype())));
  step.after_optimizer_step(5, 10);
  CHECK(sg::testing::max_abs_diff(engine::sub(target, before),
                                  Tensor::full(target.shape(), 0.1, target.dtype())) < 1e-6);
}

// The blocked kNN against the whole similarity matrix computed here in double precision.
TEST_CASE("knn.blocked_equals_full") {
  Generator gen(9);
  const int64_t n_train = 60, n_test = 23, dim = 6, classes = 4, k = 7;
  Tensor train = normal({n_train, dim}, 0, 1, gen), test = normal({n_test, dim}, 0, 1, gen);
  std::vector<int64_t> train_labels, test_labels;
  for (int64_t i = 0; i < n_train; ++i) train_labels.push_back(int64_t(gen.uniform() * classes));
  for (int64_t i = 0; i < n_test; ++i) test_labels.push_back(int64_t(gen.uniform() * classes));
  int64_t correct = 0;
  for (int64_t i = 0; i < n_test; ++i) {
    std::vector<std::pair<double, int64_t>> sims;
    for (int64_t j = 0; j < n_train; ++j) sims.emplace_back(cosine(test, i, train, j), j);
    std::sort(sims.begin(), sims.end(), [](auto x, auto y) { return x.first > y.first; });
    std::vector<double> votes(size_t(classes), 0.0);
    for (int64_t r = 0; r < k; ++r)
      votes[size_t(train_labels[size_t(sims[size_t(r)].second)])] +=
          std::exp(sims[size_t(r)].first / 0.2);
    correct +=
        std::max_element(votes.begin(), votes.end()) - votes.begin() == test_labels[size_t(i)];
  }
  double full = double(correct) / double(n_test);
  CHECK(full > 0);  // a set where the answer is not trivially 0
  for (int64_t block : {1, 5, 23, 1000}) {
    CAPTURE(block);
    CHECK(knn_accuracy(train, train_labels, test, test_labels, classes, k, 0.2, block) == full);
  }
}
