// The cuBLAS arguments of the CUDA matmul (engine/cuda/gemm_plan.h), checked on the host: a
// column-major GEMM emulated with cuBLAS's exact semantics, fed those arguments and our
// row-major buffers, must give the reference matmul, for plain, transposed and batched views.
#include <doctest/doctest.h>

#include "engine/backend.h"
#include "engine/cuda/gemm_plan.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "tests/helpers.h"

using namespace sg;
namespace e = sg::engine;

namespace {
// cublasGemmStridedBatchedEx with alpha 1, beta 0 on host buffers.
void emulated_gemm(const cuda::GemmCall& g, const double* A, const double* B, double* C) {
  for (int64_t p = 0; p < g.batch; ++p)
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        double acc = 0;
        for (int64_t l = 0; l < g.k; ++l) {
          double a =
              g.trans_a ? A[p * g.stride_a + l + i * g.lda] : A[p * g.stride_a + i + l * g.lda];
          double b =
              g.trans_b ? B[p * g.stride_b + j + l * g.ldb] : B[p * g.stride_b + l + j * g.ldb];
          acc += a * b;
        }
        C[p * g.stride_c + i + j * g.ldc] = acc;
      }
}

// What CudaBackend::matmul does, with the emulator in cuBLAS's place.
Tensor planned_matmul(const Tensor& a_in, const Tensor& b_in, bool& copied) {
  auto prepare = [&](const Tensor& x) {
    cuda::GemmOperand d = cuda::describe_gemm_operand(x.shape(), x.strides());
    if (d.usable) return std::pair{x, d};
    copied = true;
    Tensor c = e::clone(x);
    return std::pair{c, cuda::describe_gemm_operand(c.shape(), c.strides())};
  };
  auto [a, ad] = prepare(a_in);
  auto [b, bd] = prepare(b_in);
  Shape out_shape = a.shape();
  out_shape.back() = b.shape().back();
  Tensor out = Tensor::zeros(out_shape, DType::Float64);
  emulated_gemm(cuda::plan_gemm(a.shape(), ad, b.shape(), bd), b.data<double>(), a.data<double>(),
                out.data<double>());
  return out;
}

Tensor rnd(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return normal(s, 0, 1, g, DType::Float64);
}
}  // namespace

TEST_CASE("cuda_gemm_plan.matches_reference_matmul") {
  struct Case {
    Tensor a, b;
    bool expect_copy;
  };
  Tensor a = rnd({5, 7}, 1), b = rnd({7, 3}, 2);
  Tensor at = rnd({7, 5}, 3), bt = rnd({3, 7}, 4);
  Tensor ba = rnd({4, 5, 7}, 5), bb = rnd({4, 7, 3}, 6), bat = rnd({4, 7, 5}, 7);
  Tensor wide = rnd({5, 14}, 8);
  std::vector<Case> cases{
      {a, b, false},
      {e::transpose(at, 0, 1), b, false},                       // a as a transposed view
      {a, e::transpose(bt, 0, 1), false},                       // b as a transposed view
      {e::transpose(at, 0, 1), e::transpose(bt, 0, 1), false},  // both
      {ba, bb, false},                                          // batched
      {e::transpose(bat, 1, 2), bb, false},                     // batched, transposed a
      {e::slice(wide, 1, 0, 14, 2), b, true},                   // every other column: copied
      {rnd({1, 1, 7}, 9), rnd({1, 7, 1}, 10), false},           // vectors
  };
  for (const Case& c : cases) {
    bool copied = false;
    Tensor got = planned_matmul(c.a, c.b, copied);
    CHECK(copied == c.expect_copy);
    CHECK(sg::testing::max_abs_diff(
              got, reference_backend().matmul(e::contiguous(c.a), e::contiguous(c.b))) < 1e-12);
  }
}
