// The element indexing every CUDA elementwise kernel uses (engine/cuda/indexer.h), checked on
// the host against the engine's own expand + contiguous copy, so it is verified where no GPU
// exists: transposed, sliced, broadcast and 0-d operands.
#include <doctest/doctest.h>

#include "engine/cuda/indexer.h"
#include "engine/ops.h"

using namespace sg;
namespace e = sg::engine;

namespace {
// Every element of `t` broadcast to `shape`, read through the indexer, in row-major order.
std::vector<double> through_indexer(const Tensor& t, const Shape& shape) {
  cuda::Indexer ix = cuda::broadcast_indexer(t, shape);
  const double* base = t.data<double>();
  std::vector<double> out;
  for (int64_t i = 0; i < numel(shape); ++i) out.push_back(base[ix.offset(i)]);
  return out;
}
}  // namespace

TEST_CASE("cuda_indexer.matches_expand") {
  Tensor x = e::to(Tensor::arange(2 * 3 * 4), DType::Float64);
  Tensor cube = e::reshape(x, {2, 3, 4});
  struct Case {
    Tensor t;
    Shape shape;
  };
  std::vector<Case> cases{
      {cube, {2, 3, 4}},                                      // contiguous
      {e::transpose(cube, 0, 2), {4, 3, 2}},                  // transposed view
      {e::slice(cube, 2, 1, 3), {2, 3, 2}},                   // slice with an offset
      {e::reshape(x, {1, 3, 8}), {5, 3, 8}},                  // broadcast leading dim
      {e::reshape(e::slice(x, 0, 0, 3), {3, 1}), {2, 3, 4}},  // missing + size-1 dims
      {Tensor::full({}, 7.0, DType::Float64), {3, 2}},        // 0-d scalar
  };
  for (const Case& c : cases) {
    std::vector<double> expected = e::contiguous(e::expand(c.t, c.shape)).to_vector();
    CHECK(through_indexer(c.t, c.shape) == expected);
  }
  CHECK_THROWS_WITH_AS(cuda::broadcast_indexer(cube, Shape(9, 1)), doctest::Contains("at most 8"),
                       Error);
}
