// Reference kernels against values worked out by hand. These are the oracle for every fast
// backend, so they are checked against arithmetic, not against another implementation.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/ops.h"
#include "tests/helpers.h"

using namespace sg;
using namespace sg::testing;
namespace e = sg::engine;

namespace {
Backend& ref() { return reference_backend(); }
}  // namespace

TEST_CASE("reference.elementwise_broadcasting") {
  Tensor a = t64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor row = t64({10, 20, 30}, {3});
  Tensor col = t64({100, 200}, {2, 1});
  check_values(ref().binary(BinaryOp::Add, a, row), {11, 22, 33, 14, 25, 36});
  check_values(ref().binary(BinaryOp::Mul, a, col), {100, 200, 300, 800, 1000, 1200});
  check_values(ref().binary(BinaryOp::Sub, row, col), {-90, -80, -70, -190, -180, -170});
  check_values(ref().binary(BinaryOp::Pow, a, t64({2}, {1})), {1, 4, 9, 16, 25, 36});
  check_values(ref().binary(BinaryOp::Greater, a, t64({3}, {})), {0, 0, 0, 1, 1, 1});
  check_values(ref().unary(UnaryOp::Sqrt, t64({4, 9}, {2})), {2, 3});
  check_values(ref().unary(UnaryOp::Sign, t64({-2, 0, 5}, {3})), {-1, 0, 1});
  check_values(ref().clamp(t64({-2, 0.5, 5}, {3}), 0, 1), {0, 0.5, 1});
  check_values(ref().where(t64({1, 0}, {2}), t64({1, 2}, {2}), t64({3, 4}, {2})), {1, 4});
  check_values(ref().relu_forward(t64({-1, 0, 2}, {3})), {0, 0, 2});
  check_values(ref().relu_backward(t64({5, 6, 7}, {3}), t64({0, 0, 2}, {3})), {0, 0, 7});
  // Strided input: the transpose of a.
  check_values(ref().unary(UnaryOp::Neg, e::transpose(a, 0, 1)), {-1, -4, -2, -5, -3, -6});
}

TEST_CASE("reference.in_place_and_copy") {
  Tensor a = t64({1, 2, 3, 4}, {2, 2});
  e::add_(a, t64({10, 20}, {2}));
  check_values(a, {11, 22, 13, 24});
  uint64_t before = a.version();
  e::mul_(a, 2.0);
  CHECK(a.version() == before + 1);
  check_values(a, {22, 44, 26, 48});
  Tensor dst = Tensor::zeros({2, 2}, DType::Float64);
  e::copy_(e::transpose(dst, 0, 1), a);
  check_values(dst, {22, 26, 44, 48});
}

TEST_CASE("reference.reductions") {
  Tensor a = t64({1, 5, 3, 4, 2, 6}, {2, 3});
  check_values(ref().reduce(ReduceOp::Sum, a, {0}, false), {5, 7, 9});
  check_values(ref().reduce(ReduceOp::Sum, a, {1}, true), {9, 12});
  CHECK(ref().reduce(ReduceOp::Sum, a, {1}, true).shape() == Shape{2, 1});
  check_values(ref().reduce(ReduceOp::Mean, a, {0, 1}, false), {3.5});
  check_values(ref().reduce(ReduceOp::Max, a, {1}, false), {5, 6});
  check_values(ref().reduce(ReduceOp::Min, a, {0}, false), {1, 2, 3});
  check_values(ref().arg_reduce(ArgReduceOp::Argmin, a, 1, false), {0, 1});
  check_values(ref().arg_reduce(ArgReduceOp::Argmax, a, 0, false), {1, 0, 1});
  check_values(e::sum_to(a, {1, 3}), {5, 7, 9});
}

TEST_CASE("reference.matmul") {
  Tensor a = t64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = t64({7, 8, 9, 10, 11, 12}, {3, 2});
  check_values(ref().matmul(a, b), {58, 64, 139, 154});
  // Transposed operand through strides.
  check_values(ref().matmul(a, e::transpose(a, 0, 1)), {14, 32, 32, 77});
  Tensor batched = ref().matmul(e::stack({a, a}, 0), e::stack({b, b}, 0));
  CHECK(batched.shape() == Shape{2, 2, 2});
  check_values(batched, {58, 64, 139, 154, 58, 64, 139, 154});
}

TEST_CASE("reference.conv2d_forward_by_hand") {
  // x: 1x1x3x3 = 1..9; w: 1x1x2x2 = [[1,0],[0,-1]] => y[i][j] = x[i][j] - x[i+1][j+1] = -4.
  Tensor x = t64({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Tensor w = t64({1, 0, 0, -1}, {1, 1, 2, 2});
  check_values(ref().conv2d_forward(x, w, Tensor(), {1, 0}), {-4, -4, -4, -4});
  // Padding 1, stride 2: taps that fall outside read zero.
  //   y[0][0] = 0 - x[0][0] = -1; y[0][1] = 0 - x[0][2] = -3; y[1][0] = -7; y[1][1] = x[1][1] -
  //   x[2][2] = 5 - 9.
  check_values(ref().conv2d_forward(x, w, Tensor(), {2, 1}), {-1, -3, -7, -4});
  Tensor bias = t64({0.5}, {1});
  check_values(ref().conv2d_forward(x, w, bias, {1, 0}), {-3.5, -3.5, -3.5, -3.5});
}

TEST_CASE("reference.conv2d_backward_by_hand") {
  Tensor x = t64({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Tensor w = t64({1, 0, 0, -1}, {1, 1, 2, 2});
  Tensor g = t64({1, 1, 1, 1}, {1, 1, 2, 2});
  // dx: each output spreads +1 to its top-left tap and -1 to its bottom-right tap.
  check_values(ref().conv2d_backward_data(g, w, {1, 1, 3, 3}, {1, 0}),
               {1, 1, 0, 1, 0, -1, 0, -1, -1});
  // dw[p][q] = sum of the 2x2 window of x starting at (p, q).
  check_values(ref().conv2d_backward_weight(g, x, {1, 1, 2, 2}, {1, 0}), {12, 16, 24, 28});
}

TEST_CASE("reference.batch_norm_by_hand") {
  // One channel with values 1, 2, 3, 6: mean 3, biased variance 3.5, unbiased 14/3.
  Tensor x = t64({1, 2, 3, 6}, {4, 1});
  Tensor rm = t64({0}, {1}), rv = t64({1}, {1});
  auto f = ref().batch_norm_forward_train(x, Tensor(), Tensor(), rm, rv, 0.1, 0.0, false);
  double s = std::sqrt(3.5);
  check_values(f.y, {-2 / s, -1 / s, 0, 3 / s}, 1e-12);
  check_values(f.save_mean, {3});
  check_values(rm, {0.3}, 1e-12);                     // 0.9 * 0 + 0.1 * 3
  check_values(rv, {0.9 + 0.1 * 14.0 / 3.0}, 1e-12);  // unbiased running variance
  Tensor y = ref().batch_norm_forward_infer(t64({2}, {1, 1}), t64({2}, {1}), t64({1}, {1}),
                                            t64({1}, {1}), t64({4}, {1}), 0.0, false);
  check_values(y, {2 * (2 - 1) / 2.0 + 1});
}

TEST_CASE("reference.pooling_by_hand") {
  Tensor x = t64({1, 5, 2, 0, 3, 4, 9, 8, 7, 6, 1, 2, 0, 0, 3, 4}, {1, 1, 4, 4});
  auto mp = ref().max_pool2d_forward(x, {2, 2, 0});
  check_values(mp.y, {5, 9, 7, 4});
  check_values(mp.indices, {1, 6, 8, 15});
  check_values(
      ref().max_pool2d_backward(t64({1, 2, 3, 4}, {1, 1, 2, 2}), mp.indices, x.shape(), {2, 2, 0}),
      {0, 1, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 4});
  check_values(ref().avg_pool2d_forward(x, {2, 2, 0}), {13 / 4.0, 19 / 4.0, 13 / 4.0, 10 / 4.0});
  check_values(ref().avg_pool2d_backward(t64({4, 8, 12, 16}, {1, 1, 2, 2}), x.shape(), {2, 2, 0}),
               {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
}

TEST_CASE("reference.log_softmax_by_hand") {
  Tensor x = t64({0, std::log(3.0)}, {1, 2});  // softmax = [1/4, 3/4]
  Tensor y = ref().log_softmax_forward(x, 1);
  check_values(y, {std::log(0.25), std::log(0.75)}, 1e-12);
  // dx = dy - softmax * sum(dy)
  check_values(ref().log_softmax_backward(t64({1, 0}, {1, 2}), y, 1), {0.75, -0.75}, 1e-12);
}

TEST_CASE("reference.indexing_and_joining") {
  Tensor x = t64({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor idx = Tensor::from_vector({2, 0}, {2}, DType::Int64);
  check_values(ref().index_select(x, 0, idx), {5, 6, 1, 2});
  Tensor gi = Tensor::from_vector({1, 0, 0, 1, 1, 1}, {3, 2}, DType::Int64);
  check_values(ref().gather(x, 1, gi), {2, 1, 3, 4, 6, 6});  // out[i][j] = x[i][gi[i][j]]
  check_values(ref().scatter_add(Tensor::zeros({3, 2}, DType::Float64), 1, gi, x),
               {2, 1, 3, 4, 0, 11});
  check_values(ref().cat({x, x}, 1), {1, 2, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6});
  CHECK_THROWS_WITH_AS(ref().index_select(x, 0, Tensor::from_vector({3}, {1}, DType::Int64)),
                       doctest::Contains("index 3 is out of range"), Error);
}
