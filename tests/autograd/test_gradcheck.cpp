// One finite-difference check per differentiable op ("gradcheck.<op>"), including broadcast,
// non-contiguous and strided-convolution cases. A wrong backward formula fails here.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/autograd.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::t64;
namespace e = sg::engine;

namespace {
using In = const std::vector<Tensor>&;

Tensor rnd(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return normal(s, 0, 1, g, DType::Float64);
}
Tensor positive(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return uniform(s, 0.5, 2.0, g, DType::Float64);
}
Tensor index(const std::vector<double>& v, const Shape& s) {
  return Tensor::from_vector(v, s, DType::Int64);
}
void expect_gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs) {
  GradcheckResult r = gradcheck(f, inputs);
  CHECK_MESSAGE(r.ok, "worst: ", r.worst, " (error ratio ", r.worst_ratio, ")");
}
}  // namespace

// ---- elementwise ---------------------------------------------------------------------------
TEST_CASE("gradcheck.add") {
  expect_gradcheck([](In x) { return add(x[0], x[1]); }, {rnd({2, 3}, 1), rnd({3}, 2)});
  expect_gradcheck([](In x) { return x[0] + 2.0; }, {rnd({2, 3}, 1)});
}
TEST_CASE("gradcheck.sub") {
  expect_gradcheck([](In x) { return sub(x[0], x[1]); }, {rnd({2, 1}, 1), rnd({2, 3}, 2)});
}
TEST_CASE("gradcheck.mul") {
  expect_gradcheck([](In x) { return mul(x[0], x[1]); }, {rnd({2, 3}, 1), rnd({2, 1}, 2)});
  // Non-contiguous operand: the transpose of a [3, 2] tensor.
  expect_gradcheck([](In x) { return mul(transpose(x[0], 0, 1), x[1]); },
                   {rnd({3, 2}, 3), rnd({2, 3}, 4)});
}
TEST_CASE("gradcheck.div") {
  expect_gradcheck([](In x) { return div(x[0], x[1]); }, {rnd({2, 3}, 1), positive({3}, 2)});
}
TEST_CASE("gradcheck.neg") {
  expect_gradcheck([](In x) { return neg(x[0]); }, {rnd({4}, 1)});
}
TEST_CASE("gradcheck.pow") {
  expect_gradcheck([](In x) { return pow(x[0], 3.0); }, {rnd({2, 3}, 1)});
  expect_gradcheck([](In x) { return pow(x[0], x[1]); }, {positive({2, 3}, 1), rnd({3}, 2)});
}
TEST_CASE("gradcheck.sqrt") {
  expect_gradcheck([](In x) { return sqrt(x[0]); }, {positive({2, 3}, 1)});
}
TEST_CASE("gradcheck.exp") {
  expect_gradcheck([](In x) { return exp(x[0]); }, {rnd({2, 3}, 1)});
}
TEST_CASE("gradcheck.log") {
  expect_gradcheck([](In x) { return log(x[0]); }, {positive({2, 3}, 1)});
}
TEST_CASE("gradcheck.abs") {
  expect_gradcheck([](In x) { return abs(x[0]); }, {rnd({2, 3}, 1)});
}
TEST_CASE("gradcheck.clamp") {
  expect_gradcheck([](In x) { return clamp(x[0], -0.5, 0.5); },
                   {t64({-1.2, -0.3, 0.1, 0.4, 0.9, 2.0}, {6})});
}
TEST_CASE("gradcheck.relu") {
  expect_gradcheck([](In x) { return relu(x[0]); }, {rnd({3, 4}, 1)});
}
TEST_CASE("gradcheck.add_relu") {
  expect_gradcheck([](In x) { return add_relu(x[0], x[1]); }, {rnd({3, 4}, 1), rnd({3, 4}, 2)});
  // Its output read twice, as a residual block's by the next block's two branches: the two
  // gradient pieces reach its backward_of_sum (three pieces: the first two summed before).
  expect_gradcheck(
      [](In x) {
        Tensor y = add_relu(x[0], x[1]);
        return y * x[2] + y;
      },
      {rnd({3, 4}, 1), rnd({3, 4}, 2), rnd({3, 4}, 3)});
  expect_gradcheck(
      [](In x) {
        Tensor y = add_relu(x[0], x[1]);
        return y * x[2] + y + y * y;
      },
      {rnd({3, 4}, 1), rnd({3, 4}, 2), rnd({3, 4}, 3)});
}
TEST_CASE("gradcheck.where") {
  Tensor cond = t64({1, 0, 1, 0, 0, 1}, {2, 3});
  expect_gradcheck([cond](In x) { return where(cond, x[0], x[1]); }, {rnd({2, 3}, 1), rnd({3}, 2)});
}

// ---- reductions ----------------------------------------------------------------------------
TEST_CASE("gradcheck.sum") {
  expect_gradcheck([](In x) { return sum(x[0], {1}); }, {rnd({2, 3, 2}, 1)});
  expect_gradcheck([](In x) { return sum(x[0], {0, 2}, true); }, {rnd({2, 3, 2}, 2)});
  expect_gradcheck([](In x) { return sum(x[0]); }, {rnd({2, 3}, 3)});
}
TEST_CASE("gradcheck.mean") {
  expect_gradcheck([](In x) { return mean(x[0], {-1}); }, {rnd({2, 3}, 1)});
  expect_gradcheck([](In x) { return mean(x[0]); }, {rnd({2, 3}, 2)});
}
TEST_CASE("gradcheck.amax") {
  expect_gradcheck([](In x) { return amax(x[0], {1}); }, {rnd({3, 4}, 1)});
}

// ---- shape ---------------------------------------------------------------------------------
TEST_CASE("gradcheck.reshape") {
  expect_gradcheck([](In x) { return reshape(transpose(x[0], 0, 1), {-1}); }, {rnd({2, 3}, 1)});
}
TEST_CASE("gradcheck.view") {
  expect_gradcheck([](In x) { return view(x[0], {3, 2}); }, {rnd({2, 3}, 1)});
}
TEST_CASE("gradcheck.flatten") {
  expect_gradcheck([](In x) { return flatten(x[0], 1); }, {rnd({2, 3, 2}, 1)});
}
TEST_CASE("gradcheck.permute") {
  expect_gradcheck(
      [](In x) {
        return permute(x[0], {2, 0, 1}) * x[1];
      },
      {rnd({2, 3, 4}, 1), rnd({4, 2, 3}, 2)});
}
TEST_CASE("gradcheck.transpose") {
  expect_gradcheck([](In x) { return transpose(x[0], 0, 1) * x[1]; },
                   {rnd({2, 3}, 1), rnd({3, 2}, 2)});
}
TEST_CASE("gradcheck.slice") {
  expect_gradcheck([](In x) { return slice(x[0], 1, 1, 5, 2); }, {rnd({2, 5}, 1)});
}
TEST_CASE("gradcheck.narrow") {
  expect_gradcheck([](In x) { return narrow(x[0], 0, 1, 2); }, {rnd({4, 2}, 1)});
}
TEST_CASE("gradcheck.expand") {
  expect_gradcheck(
      [](In x) {
        return expand(x[0], {2, 3, 4}) * x[1];
      },
      {rnd({3, 1}, 1), rnd({2, 3, 4}, 2)});
}
TEST_CASE("gradcheck.unsqueeze") {
  expect_gradcheck([](In x) { return unsqueeze(x[0], 1) * x[1]; }, {rnd({2}, 1), rnd({2, 3}, 2)});
}
TEST_CASE("gradcheck.squeeze") {
  expect_gradcheck([](In x) { return squeeze(x[0], 1) * x[1]; }, {rnd({2, 1}, 1), rnd({2}, 2)});
}
TEST_CASE("gradcheck.contiguous") {
  expect_gradcheck([](In x) { return contiguous(transpose(x[0], 0, 1)) * x[1]; },
                   {rnd({2, 3}, 1), rnd({3, 2}, 2)});
}
TEST_CASE("gradcheck.clone") {
  expect_gradcheck([](In x) { return clone(x[0]) * x[0]; }, {rnd({2, 3}, 1)});
}
TEST_CASE("gradcheck.to") {
  // float64 -> float32 -> float64 loses precision, so check with a looser tolerance.
  GradcheckOptions loose;
  loose.eps = 1e-3;
  loose.rtol = 1e-2;
  loose.atol = 1e-3;
  GradcheckResult r =
      gradcheck([](In x) { return to(to(x[0], DType::Float32) * 2.0, DType::Float64); },
                {rnd({3}, 1)}, loose);
  CHECK_MESSAGE(r.ok, r.worst);
}
TEST_CASE("gradcheck.cat") {
  expect_gradcheck([](In x) { return cat({x[0], x[1]}, 1); }, {rnd({2, 2}, 1), rnd({2, 3}, 2)});
}
TEST_CASE("gradcheck.stack") {
  expect_gradcheck([](In x) { return stack({x[0], x[1]}, 0); }, {rnd({2, 2}, 1), rnd({2, 2}, 2)});
}

// ---- indexing ------------------------------------------------------------------------------
TEST_CASE("gradcheck.index_select") {
  Tensor idx = index({2, 0, 2}, {3});  // row 2 twice: its gradient accumulates
  expect_gradcheck([idx](In x) { return index_select(x[0], 0, idx); }, {rnd({3, 2}, 1)});
}
TEST_CASE("gradcheck.gather") {
  Tensor idx = index({1, 0, 0, 0, 2, 2}, {2, 3});
  expect_gradcheck([idx](In x) { return gather(x[0], 1, idx); }, {rnd({2, 3}, 1)});
}
TEST_CASE("gradcheck.scatter_add") {
  Tensor idx = index({1, 0, 1, 2, 2, 0}, {2, 3});
  expect_gradcheck([idx](In x) { return scatter_add(x[0], 1, idx, x[1]); },
                   {rnd({2, 3}, 1), rnd({2, 3}, 2)});
}
TEST_CASE("gradcheck.masked_select") {
  Tensor mask = t64({1, 0, 1, 1, 0, 0}, {2, 3});
  expect_gradcheck([mask](In x) { return masked_select(x[0], mask); }, {rnd({2, 3}, 1)});
}

// ---- linear algebra ------------------------------------------------------------------------
TEST_CASE("gradcheck.matmul") {
  expect_gradcheck([](In x) { return matmul(x[0], x[1]); }, {rnd({2, 3}, 1), rnd({3, 4}, 2)});
  expect_gradcheck([](In x) { return matmul(x[0], x[1]); }, {rnd({2, 2, 3}, 1), rnd({2, 3, 2}, 2)});
}
TEST_CASE("gradcheck.linear") {
  expect_gradcheck([](In x) { return linear(x[0], x[1], x[2]); },
                   {rnd({3, 4}, 1), rnd({2, 4}, 2), rnd({2}, 3)});
  expect_gradcheck([](In x) { return linear(x[0], x[1]); }, {rnd({3, 4}, 1), rnd({2, 4}, 2)});
}

// ---- convolution, normalisation, pooling ----------------------------------------------------
TEST_CASE("gradcheck.conv2d") {
  expect_gradcheck(
      [](In x) {
        return conv2d(x[0], x[1], x[2], {1, 1});
      },
      {rnd({2, 2, 4, 4}, 1), rnd({3, 2, 3, 3}, 2), rnd({3}, 3)});
  // Stride 2 with padding, on a non-square input, no bias.
  expect_gradcheck(
      [](In x) {
        return conv2d(x[0], x[1], Tensor(), {2, 1});
      },
      {rnd({1, 2, 5, 4}, 4), rnd({2, 2, 3, 3}, 5)});
}
TEST_CASE("gradcheck.batch_norm") {
  // Training mode, 2-d ([N,C,H,W]) and 1-d ([N,C]), with and without affine parameters.
  expect_gradcheck([](In x) { return batch_norm(x[0], x[1], x[2], Tensor(), Tensor(), true); },
                   {rnd({3, 2, 2, 2}, 1), positive({2}, 2), rnd({2}, 3)});
  expect_gradcheck(
      [](In x) { return batch_norm(x[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
      {rnd({4, 3}, 4)});
  // Evaluation mode uses the running statistics.
  Tensor rm = t64({0.1, -0.2}, {2}), rv = t64({1.5, 0.7}, {2});
  expect_gradcheck([rm, rv](In x) { return batch_norm(x[0], x[1], x[2], rm, rv, false); },
                   {rnd({3, 2}, 5), positive({2}, 6), rnd({2}, 7)});
}
// With one rank sync_batch_norm is batch_norm; its multi-rank checks run under mpirun
// (tests/dist/test_dist.cpp).
TEST_CASE("gradcheck.sync_batch_norm") {
  auto one = std::shared_ptr<Communicator>(make_single_process_communicator());
  for (bool relu : {false, true}) {
    CAPTURE(relu);
    expect_gradcheck(
        [one, relu](In x) {
          return sync_batch_norm(x[0], x[1], x[2], Tensor(), Tensor(), *one, 0.1, 1e-5, relu);
        },
        {rnd({3, 2, 2, 2}, 1), positive({2}, 2), rnd({2}, 3)});
    expect_gradcheck(
        [one, relu](In x) {
          return sync_batch_norm(x[0], Tensor(), Tensor(), Tensor(), Tensor(), *one, 0.1, 1e-5,
                                 relu);
        },
        {rnd({4, 3}, 4)});
  }
  // Forward, and the running statistics, as batch_norm's.
  Tensor x = rnd({5, 3, 2, 2}, 8), w = positive({3}, 9), b = rnd({3}, 10);
  Tensor rm1 = t64({0, 0, 0}, {3}), rv1 = t64({1, 1, 1}, {3});
  Tensor rm2 = engine::clone(rm1), rv2 = engine::clone(rv1);
  Tensor y1 = batch_norm(x, w, b, rm1, rv1, true), y2 = sync_batch_norm(x, w, b, rm2, rv2, *one);
  CHECK(sg::testing::max_abs_diff(y1, y2) < 1e-12);
  CHECK(sg::testing::max_abs_diff(rm1, rm2) < 1e-12);
  CHECK(sg::testing::max_abs_diff(rv1, rv2) < 1e-12);
  // One value per channel in the whole batch has no variance: a clear error, not a NaN.
  CHECK_THROWS_WITH_AS(sync_batch_norm(rnd({1, 3}, 11), w, b, rm2, rv2, *one),
                       doctest::Contains("more than one in all"), std::exception);
}
TEST_CASE("gradcheck.batch_norm_relu") {
  expect_gradcheck([](In x) { return batch_norm_relu(x[0], x[1], x[2], Tensor(), Tensor(), true); },
                   {rnd({3, 2, 2, 2}, 1), positive({2}, 2), rnd({2}, 3)});
  Tensor rm = t64({0.1, -0.2}, {2}), rv = t64({1.5, 0.7}, {2});
  expect_gradcheck([rm, rv](In x) { return batch_norm_relu(x[0], x[1], x[2], rm, rv, false); },
                   {rnd({3, 2}, 5), positive({2}, 6), rnd({2}, 7)});
}
TEST_CASE("gradcheck.batch_norm_add_relu") {
  expect_gradcheck(
      [](In x) { return batch_norm_add_relu(x[0], x[3], x[1], x[2], Tensor(), Tensor(), true); },
      {rnd({3, 2, 2, 2}, 1), positive({2}, 2), rnd({2}, 3), rnd({3, 2, 2, 2}, 4)});
  // Its output read twice, as a block's by the next block's two branches: backward_of_sum.
  expect_gradcheck(
      [](In x) {
        Tensor y = batch_norm_add_relu(x[0], x[3], x[1], x[2], Tensor(), Tensor(), true);
        return y * x[3] + y;
      },
      {rnd({3, 2, 2, 2}, 5), positive({2}, 6), rnd({2}, 7), rnd({3, 2, 2, 2}, 8)});
  Tensor rm = t64({0.1, -0.2}, {2}), rv = t64({1.5, 0.7}, {2});
  expect_gradcheck(
      [rm, rv](In x) { return batch_norm_add_relu(x[0], x[3], x[1], x[2], rm, rv, false); },
      {rnd({3, 2}, 9), positive({2}, 10), rnd({2}, 11), rnd({3, 2}, 12)});
}
TEST_CASE("gradcheck.max_pool2d") {
  expect_gradcheck([](In x) { return max_pool2d(x[0], {2, 2, 0}); }, {rnd({1, 2, 4, 4}, 1)});
  expect_gradcheck([](In x) { return max_pool2d(x[0], {3, 2, 1}); }, {rnd({1, 1, 5, 5}, 2)});
}
TEST_CASE("gradcheck.avg_pool2d") {
  expect_gradcheck([](In x) { return avg_pool2d(x[0], {2, 2, 0}); }, {rnd({1, 2, 4, 4}, 1)});
  expect_gradcheck([](In x) { return avg_pool2d(x[0], {3, 2, 1}); }, {rnd({1, 1, 5, 5}, 2)});
}
TEST_CASE("gradcheck.adaptive_avg_pool2d") {
  expect_gradcheck([](In x) { return adaptive_avg_pool2d(x[0]); }, {rnd({2, 3, 2, 2}, 1)});
}

// ---- losses --------------------------------------------------------------------------------
TEST_CASE("gradcheck.log_softmax") {
  expect_gradcheck([](In x) { return log_softmax(x[0], 1); }, {rnd({2, 4}, 1)});
  expect_gradcheck([](In x) { return log_softmax(x[0], 0); }, {rnd({3, 2}, 2)});
}
TEST_CASE("gradcheck.cross_entropy") {
  Tensor targets = index({2, 0, 1}, {3});
  expect_gradcheck([targets](In x) { return cross_entropy(x[0], targets); }, {rnd({3, 4}, 1)});
}
TEST_CASE("gradcheck.l2_normalize") {
  expect_gradcheck([](In x) { return l2_normalize(x[0], 1); }, {rnd({3, 4}, 1)});
}
// A zero row (a collapsed or dead embedding) normalises to zero with the finite gradient
// upstream / eps, as PyTorch's F.normalize: sqrt's infinite slope at 0 made it NaN.
TEST_CASE("gradcheck.l2_normalize_zero_row") {
  Tensor x = t64({0, 0, 0, 3, 4, 0}, {2, 3}).set_requires_grad(true);
  Tensor up = t64({1, 2, 3, 1, 1, 1}, {2, 3});
  backward(sum(l2_normalize(x, 1, 1e-3) * up));
  auto g = x.grad().to_vector();
  for (double v : g) REQUIRE(std::isfinite(v));
  CHECK(g[0] == doctest::Approx(1e3));  // upstream / eps on the zero row
  CHECK(g[1] == doctest::Approx(2e3));
  CHECK(g[2] == doctest::Approx(3e3));
  // The non-zero row as before: (up - y (y . up)) / |x| with y = (0.6, 0.8, 0), y . up = 1.4.
  CHECK(g[3] == doctest::Approx((1 - 0.6 * 1.4) / 5));
  CHECK(g[4] == doctest::Approx((1 - 0.8 * 1.4) / 5));
  CHECK(g[5] == doctest::Approx(1.0 / 5));
}
TEST_CASE("gradcheck.cosine_similarity") {
  expect_gradcheck([](In x) { return cosine_similarity(x[0], x[1], 1); },
                   {rnd({3, 4}, 1), rnd({3, 4}, 2)});
}
