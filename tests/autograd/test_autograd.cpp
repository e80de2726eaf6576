// The autograd engine itself: accumulation, detach (stop-gradient), grad mode, in-place
// version checks and the errors a user meets.
#include <doctest/doctest.h>

#include <cmath>
#include <optional>

#include "autograd/autograd.h"
#include "engine/profile.h"
#include "tests/helpers.h"

using namespace sg;
using namespace sg::testing;

namespace {
Tensor leaf(const std::vector<double>& v, const Shape& s) {
  return t64(v, s).set_requires_grad(true);
}
}  // namespace

TEST_CASE("autograd.chain_rule_and_accumulation") {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor y = sum(x * x * 2.0);  // dy/dx = 4x
  backward(y);
  check_values(x.grad(), {4, 8, 12});
  backward(sum(x));  // a second graph accumulates into the same .grad
  check_values(x.grad(), {5, 9, 13});
  x.set_grad(Tensor());  // zero_grad
  Tensor z = x * 3.0;
  backward(z, t64({1, 0, 2}, {3}));  // explicit upstream gradient for a non-scalar output
  check_values(x.grad(), {3, 0, 6});
}

TEST_CASE("autograd.shared_subexpression") {
  Tensor x = leaf({2}, {1});
  Tensor a = exp(x);
  Tensor y = sum(a * a + a);  // e^{2x} + e^x: dy/dx = 2e^{2x} + e^x
  backward(y);
  check_values(x.grad(), {2 * std::exp(4.0) + std::exp(2.0)}, 1e-9);
}

// A leaf's first gradient is adopted when nothing else reaches it and copied when something
// does: the upstream gradient the user passed, or the same tensor handed to two leaves by add.
TEST_CASE("autograd.leaf_gradients_never_alias_each_other_or_the_caller") {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = leaf({3, 4}, {2});
  Tensor upstream = t64({10, 20}, {2});
  backward(x + y, upstream);  // add's backward passes the same gradient to both inputs
  check_values(x.grad(), {10, 20});
  check_values(y.grad(), {10, 20});
  CHECK_FALSE(x.grad().shares_storage_with(upstream));
  CHECK_FALSE(y.grad().shares_storage_with(upstream));
  CHECK_FALSE(x.grad().shares_storage_with(y.grad()));
  {
    NoGradGuard guard;
    add_(x.grad(), 1.0);  // an optimizer clipping or scaling one gradient in place
  }
  check_values(x.grad(), {11, 21});
  check_values(y.grad(), {10, 20});
  check_values(upstream, {10, 20});

  // A gradient only this backward produced (mul's) is adopted, and still correct.
  Tensor w = leaf({1, 2, 3}, {3});
  backward(sum(w * 3.0));
  check_values(w.grad(), {3, 3, 3});
  // A leaf used as the root: the gradient is the caller's tensor, so it is copied.
  Tensor r = leaf({5}, {1});
  Tensor seed = t64({2}, {1});
  backward(r, seed);
  CHECK_FALSE(r.grad().shares_storage_with(seed));
  check_values(r.grad(), {2});
}

TEST_CASE("autograd.detach_shares_storage_and_stops_gradient") {
  Tensor x = leaf({1, 2}, {2});
  Tensor d = detach(x);
  CHECK(d.shares_storage_with(x));
  CHECK(d.to_vector() == x.to_vector());
  CHECK_FALSE(d.requires_grad());
  CHECK(d.grad_fn() == nullptr);
  // y = sg(x) * 5 + x * 7: only the undetached branch carries gradient.
  backward(sum(detach(x) * 5.0 + x * 7.0));
  check_values(x.grad(), {7, 7});
  // Through a deeper branch: nothing flows into w when its only use is detached.
  Tensor w = leaf({3}, {1});
  Tensor v = leaf({4}, {1});
  Tensor h = w * v;
  backward(sum(detach(h) * v));
  CHECK_FALSE(w.grad().defined());
  check_values(v.grad(), {12});
}

// D(p, z) = -cos(p, z) averaged over the batch. With z detached, only p receives gradient:
//   dD/dp_i = -(1/N) (z_i / (|p_i||z_i|) - (p_i . z_i) p_i / (|p_i|^3 |z_i|)).
TEST_CASE("autograd.simsiam_symmetric_loss_hand_derived") {
  Tensor p1 = leaf({1, 2, 0.5, -1}, {2, 2}), p2 = leaf({0.3, -0.7, 2, 1}, {2, 2});
  Tensor z1 = leaf({2, -1, 1, 1}, {2, 2}), z2 = leaf({-0.5, 1.5, 0.2, 0.9}, {2, 2});
  auto D = [](const Tensor& p, const Tensor& z) { return neg(mean(cosine_similarity(p, z, 1))); };
  Tensor loss = D(p1, detach(z2)) * 0.5 + D(p2, detach(z1)) * 0.5;
  backward(loss);

  auto expected = [](const Tensor& p, const Tensor& z) {
    std::vector<double> g;
    for (int64_t i = 0; i < 2; ++i) {
      double px = p.at({i, 0}), py = p.at({i, 1}), zx = z.at({i, 0}), zy = z.at({i, 1});
      double np = std::hypot(px, py), nz = std::hypot(zx, zy), dot = px * zx + py * zy;
      for (double pk_zk : {0, 1}) {
        double pk = pk_zk == 0 ? px : py, zk = pk_zk == 0 ? zx : zy;
        g.push_back(-0.5 * 0.5 * (zk / (np * nz) - dot * pk / (np * np * np * nz)));
      }
    }
    return g;
  };
  check_values(p1.grad(), expected(p1, z2), 1e-12);
  check_values(p2.grad(), expected(p2, z1), 1e-12);
  CHECK_FALSE(z1.grad().defined());  // stop-gradient: the targets get nothing
  CHECK_FALSE(z2.grad().defined());

  // Without detach, the targets receive gradient too.
  Tensor loss_no_sg = D(p1, z2) * 0.5 + D(p2, z1) * 0.5;
  backward(loss_no_sg);
  CHECK(z1.grad().defined());
  CHECK(z2.grad().defined());
}

TEST_CASE("autograd.no_grad_records_nothing") {
  Tensor x = leaf({1, 2}, {2});
  {
    NoGradGuard guard;
    CHECK_FALSE(GradMode::is_enabled());
    Tensor y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    { NoGradGuard nested; }
    CHECK_FALSE(GradMode::is_enabled());  // nesting restores the outer state
  }
  CHECK(GradMode::is_enabled());
  Tensor y = x * 2.0;
  CHECK(y.requires_grad());
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(y.grad_fn()->name == "mul");
}

TEST_CASE("autograd.inplace_after_save_is_an_error") {
  Tensor w = leaf({1, 2}, {2});
  Tensor x = t64({3, 4}, {2});
  Tensor y = sum(w * x);  // mul saves x
  {
    NoGradGuard guard;
    add_(x, 1.0);  // modifies the saved tensor
  }
  CHECK_THROWS_WITH_AS(
      backward(y), doctest::Contains("saved by 'mul' for backward was modified in place"), Error);
  // In place on a parameter with grad mode on is refused outright.
  CHECK_THROWS_WITH_AS(add_(w, 1.0), doctest::Contains("wrap parameter updates in NoGradGuard"),
                       Error);
  {
    NoGradGuard guard;
    add_(w, 1.0);  // the optimizer's way
  }
  check_values(w, {2, 3});
}

TEST_CASE("autograd.backward_errors") {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = sum(exp(x));
  backward(y);
  CHECK_THROWS_WITH_AS(backward(y), doctest::Contains("a second time"), Error);
  Tensor y2 = sum(exp(x));
  backward(y2, Tensor(), /*retain_graph=*/true);
  backward(y2);  // allowed: the graph was retained
  CHECK_THROWS_WITH_AS(backward(exp(x)), doctest::Contains("non-scalar output of shape [2]"),
                       Error);
  CHECK_THROWS_WITH_AS(backward(exp(x), t64({1, 2, 3}, {3})),
                       doctest::Contains("gradient of shape [3] for an output of shape [2]"),
                       Error);
  CHECK_THROWS_WITH_AS(backward(t64({1}, {1})), doctest::Contains("does not require grad"), Error);
  CHECK_THROWS_WITH_AS(add(x, t64({1, 2, 3}, {3})),
                       doctest::Contains("[2] and [3] cannot be broadcast"), Error);
}

TEST_CASE("autograd.batch_norm_running_statistics") {
  // Two channels over a [2, 2, 1, 2] batch. Channel 0 holds 1, 3, 5, 7 (mean 4, biased var 5,
  // unbiased 20/3); channel 1 holds 2, 2, 2, 6 (mean 3, biased var 3, unbiased 4).
  Tensor x = t64({1, 3, 2, 2, 5, 7, 2, 6}, {2, 2, 1, 2});
  Tensor rm = t64({0, 0}, {2}), rv = t64({1, 1}, {2});
  Tensor y = batch_norm(x, Tensor(), Tensor(), rm, rv, /*training=*/true, 0.1, 0.0);
  check_values(rm, {0.4, 0.3}, 1e-12);
  check_values(rv, {0.9 + 0.1 * 20.0 / 3.0, 0.9 + 0.1 * 4.0}, 1e-12);
  check_values(y,
               {-3 / std::sqrt(5.0), -1 / std::sqrt(5.0), -1 / std::sqrt(3.0), -1 / std::sqrt(3.0),
                1 / std::sqrt(5.0), 3 / std::sqrt(5.0), -1 / std::sqrt(3.0), 3 / std::sqrt(3.0)},
               1e-12);
  // Evaluation normalises with the running statistics and leaves them alone.
  Tensor ye = batch_norm(x, Tensor(), Tensor(), rm, rv, /*training=*/false, 0.1, 0.0);
  CHECK(ye.at({0, 0, 0, 0}) == doctest::Approx((1 - 0.4) / std::sqrt(0.9 + 0.1 * 20.0 / 3.0)));
  check_values(rm, {0.4, 0.3}, 1e-12);
}

// batch_norm_relu's backward needs where its output was positive: the reference kernel reads
// that from the output itself, oneDNN from its own mask. Writing the output in place before
// backward is an error on both backends, not a silently wrong gradient.
TEST_CASE("autograd.batch_norm_relu_output_written_in_place_is_caught") {
  for (bool reference : {true, false}) {
    CAPTURE(reference);
    std::optional<ReferenceKernelsGuard> guard;
    if (reference) guard.emplace();
    Generator g(1);
    Tensor x = normal({4, 3, 4, 4}, 0, 1, g).set_requires_grad(true);
    Tensor w = Tensor::ones({3}).set_requires_grad(true), b = Tensor::zeros({3});
    Tensor y = batch_norm_relu(x, w, b, Tensor(), Tensor(), /*training=*/true, 0.1, 1e-5);
    Tensor loss = sum(y);  // sum's backward needs nothing of y: only batch_norm_relu checks
    engine::mul_(y, 2.0);
    CHECK_THROWS_WITH_AS(backward(loss),
                         doctest::Contains("saved by 'batch_norm_relu' for backward was modified"),
                         Error);
  }
}

// An index rewritten in place after index_select / gather / scatter_add would send gradients
// to the wrong rows; the saved index is version-checked.
TEST_CASE("autograd.index_written_in_place_is_caught") {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor index = Tensor::from_vector({2, 0}, {2}, DType::Int64);
  Tensor selected = sum(index_select(x, 0, index));
  Tensor gidx = Tensor::from_vector({1, 0, 0, 1, 1, 1}, {3, 2}, DType::Int64);
  Tensor gathered = sum(gather(x, 1, gidx));
  engine::fill_(index, 1);
  engine::fill_(gidx, 0);
  CHECK_THROWS_WITH_AS(backward(selected), doctest::Contains("saved by 'index_select'"), Error);
  CHECK_THROWS_WITH_AS(backward(gathered), doctest::Contains("saved by 'gather'"), Error);
}

// linear with bf16 products (PyTorch's autocast Linear, the SSL heads under --precision bf16):
// y and each gradient bit for bit what the explicit roundings and bf16 products give, in
// float32; the bias and its gradient as in float32.
TEST_CASE("autograd.linear_with_bf16_products") {
  namespace e = sg::engine;
  Generator gen(5);
  Tensor x = normal({6, 40}, 0, 1, gen).set_requires_grad(true);
  Tensor w = normal({24, 40}, 0, 1, gen).set_requires_grad(true);
  Tensor b = normal({24}, 0, 1, gen).set_requires_grad(true);
  Tensor g = normal({6, 24}, 0, 1, gen);  // dy
  Tensor y = linear(x, w, b, DType::BFloat16);
  REQUIRE(y.dtype() == DType::Float32);
  backward(sum(mul(y, g)));
  auto bf = [](const Tensor& t) { return e::to(t, DType::BFloat16); };
  auto f32 = [](const Tensor& t) { return e::to(t, DType::Float32); };
  auto same = [](const Tensor& got, const Tensor& want) {
    REQUIRE(got.dtype() == DType::Float32);
    CHECK(e::to_strided(got).to_vector() == e::to_strided(want).to_vector());
  };
  same(y, e::add(f32(e::matmul(bf(x), e::transpose(bf(w), 0, 1))), b));
  same(x.grad(), f32(e::matmul(bf(g), bf(w))));
  same(w.grad(), f32(e::matmul(e::transpose(bf(g), 0, 1), bf(x))));
  same(b.grad(), e::sum(g, {0}));
  // Not what float32 products give: the roundings happened.
  CHECK(e::to_strided(x.grad()).to_vector() != e::to_strided(e::matmul(g, w)).to_vector());
}

// A residual block's output feeds the next block's two branches, so its gradient arrives in two
// pieces; add_relu sums them inside its ReLU backward (engine relu_backward_of_sum): one
// elementwise pass fewer than relu(add(a, b)) with the sum taken by the engine, same values.
TEST_CASE("autograd.add_relu_sums_its_gradient_pieces_in_one_pass") {
  namespace e = sg::engine;
  Generator gen(9);
  Tensor a0 = normal({4, 6}, 0, 1, gen), b0 = normal({4, 6}, 0, 1, gen);
  Tensor c = normal({4, 6}, 0, 1, gen);
  auto run = [&](bool fused, long* backward_calls) {
    Tensor a = e::clone(a0).set_requires_grad(true), b = e::clone(b0).set_requires_grad(true);
    Tensor y = fused ? add_relu(a, b) : relu(add(a, b));
    Tensor loss = sum(add(mul(y, c), mul(y, y)));
    Profile profile;
    {
      ProfileScope scope(profile);
      backward(loss);
    }
    *backward_calls = profile.calls[size_t(OpKind::Elementwise)];
    return std::pair{e::to_strided(a.grad()).to_vector(), e::to_strided(b.grad()).to_vector()};
  };
  long fused_calls = 0, plain_calls = 0;
  auto fused = run(true, &fused_calls), plain = run(false, &plain_calls);
  CHECK(fused.first == plain.first);
  CHECK(fused.second == plain.second);
  CHECK(fused_calls == plain_calls - 1);
}

// batch_norm_add_relu is add_relu on batch_norm, fused: the same output, running statistics and
// gradients to the bit, with its output read once and (as a residual block's) twice.
TEST_CASE("autograd.batch_norm_add_relu_equals_its_composition") {
  namespace e = sg::engine;
  Generator gen(10);
  Tensor x0 = normal({4, 3, 2, 2}, 0, 1, gen), r0 = normal({4, 3, 2, 2}, 0, 1, gen);
  Tensor c = normal({4, 3, 2, 2}, 0, 1, gen);
  for (bool twice : {false, true}) {
    CAPTURE(twice);
    auto run = [&](bool fused) {
      Tensor x = e::clone(x0).set_requires_grad(true), r = e::clone(r0).set_requires_grad(true);
      Tensor w = Tensor::full({3}, 1.5).set_requires_grad(true);
      Tensor b = Tensor::full({3}, 0.25).set_requires_grad(true);
      Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
      Tensor y = fused ? batch_norm_add_relu(x, r, w, b, rm, rv, true)
                       : add_relu(batch_norm(x, w, b, rm, rv, true), r);
      backward(sum(twice ? add(mul(y, c), y) : mul(y, c)));
      std::vector<std::vector<double>> out;
      for (const Tensor& t : {y, rm, rv, x.grad(), r.grad(), w.grad(), b.grad()})
        out.push_back(e::to_strided(t).to_vector());
      return out;
    };
    CHECK(run(true) == run(false));
  }
}
