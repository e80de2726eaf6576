#pragma once
// The arguments stopgrad passes to cuBLAS for a row-major matmul, worked out in plain C++ so the
// host-side tests can check them against an emulated column-major GEMM where no GPU exists.
// cuBLAS is column-major: the row-major product out = a b is computed as out^T = b^T a^T, which
// in column-major terms reads the row-major buffers as they are. An operand that is a transposed
// view (column-major in memory) goes with cuBLAS's transpose flag instead of being copied.
#include <algorithm>

#include "engine/shape.h"

namespace sg::cuda {

// How a row-major operand [.., rows, cols] reaches cuBLAS without a copy, if it can.
struct GemmOperand {
  bool usable = false;      // false: make it contiguous first
  bool transposed = false;  // stored column-major
  int64_t ld = 0, batch_stride = 0;
};

inline GemmOperand describe_gemm_operand(const Shape& shape, const Strides& strides) {
  size_t r = shape.size() - 2;
  int64_t rows = shape[r], cols = shape[r + 1], sr = strides[r], sc = strides[r + 1];
  bool batch_ok = shape.size() == 2 || shape[0] == 1 || strides[0] == rows * cols;
  if (batch_ok && sc == 1 && (sr == cols || rows == 1))
    return {true, false, std::max<int64_t>(cols, 1), rows * cols};
  if (batch_ok && sr == 1 && (sc == rows || cols == 1))
    return {true, true, std::max<int64_t>(rows, 1), rows * cols};
  return {};
}

// cublasGemmStridedBatchedEx's arguments: C (m x n, column-major) = op(A) op(B), A = our b,
// B = our a, C = our out (row-major [.., rows_a, cols_b]).
struct GemmCall {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0, lda = 0, stride_a = 0, ldb = 0, stride_b = 0, ldc = 0, stride_c = 0,
          batch = 1;
};

inline GemmCall plan_gemm(const Shape& a_shape, const GemmOperand& a, const Shape& b_shape,
                          const GemmOperand& b) {
  size_t r = a_shape.size() - 2;
  int64_t m = a_shape[r], k = a_shape[r + 1], n = b_shape[r + 1];
  int64_t batch = a_shape.size() == 3 ? a_shape[0] : 1;
  bool batched_a = a_shape.size() == 3 && a_shape[0] > 1;
  bool batched_b = b_shape.size() == 3 && b_shape[0] > 1;
  GemmCall g;
  g.m = n, g.n = m, g.k = k, g.batch = batch;
  g.trans_a = b.transposed, g.lda = b.ld, g.stride_a = batched_b ? b.batch_stride : 0;
  g.trans_b = a.transposed, g.ldb = a.ld, g.stride_b = batched_a ? a.batch_stride : 0;
  g.ldc = n, g.stride_c = m * n;
  return g;
}

}  // namespace sg::cuda
