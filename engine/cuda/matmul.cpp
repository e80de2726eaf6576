// cuBLAS matmul. cuBLAS is column-major, so the row-major product C = A B is computed as
// C^T = B^T A^T, which in column-major terms reads the row-major buffers directly. An operand
// that is a transposed view (column-major in memory) is passed with cuBLAS's transpose flag
// instead of being copied. bfloat16 multiplies on tensor cores with float accumulation.
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/cuda_context.h"

namespace sg {

namespace {

struct Operand {
  Tensor t;                 // the data cuBLAS reads
  bool transposed = false;  // stored column-major (a transposed view)
  int64_t ld = 0, batch_stride = 0;
};

// Describes a [.., rows, cols] operand for cuBLAS, copying only when no flag describes it.
Operand operand(const Tensor& x, Backend& backend) {
  int64_t r = x.dim() - 2, rows = x.shape()[size_t(r)], cols = x.shape()[size_t(r + 1)];
  int64_t sr = x.strides()[size_t(r)], sc = x.strides()[size_t(r + 1)];
  int64_t sb = x.dim() == 3 ? x.strides()[0] : 0;
  bool batch_ok = x.dim() == 2 || x.shape()[0] == 1 || sb == rows * cols;
  if (batch_ok && sc == 1 && (sr == cols || rows == 1))
    return {x, false, std::max<int64_t>(cols, 1), rows * cols};
  if (batch_ok && sr == 1 && (sc == rows || cols == 1))
    return {x, true, std::max<int64_t>(rows, 1), rows * cols};
  Tensor c = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend.copy(c, x);
  return {c, false, std::max<int64_t>(cols, 1), rows * cols};
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::Float32:
      return CUDA_R_32F;
    case DType::Float64:
      return CUDA_R_64F;
    case DType::BFloat16:
      return CUDA_R_16BF;
    case DType::Float16:
      return CUDA_R_16F;
    default:
      SG_CHECK(false, "matmul: no cuBLAS type for ", dtype_name(t));
  }
}

}  // namespace

Tensor CudaBackend::matmul(const Tensor& a_in, const Tensor& b_in) {
  bool batched = a_in.dim() == 3;
  int64_t batch = batched ? a_in.shape()[0] : 1;
  int64_t m = a_in.shape()[size_t(a_in.dim() - 2)], k = a_in.shape()[size_t(a_in.dim() - 1)];
  int64_t n = b_in.shape()[size_t(b_in.dim() - 1)];
  Shape out_shape = batched ? Shape{batch, m, n} : Shape{m, n};
  Tensor out = empty(out_shape, a_in.dtype());
  if (out.numel() == 0) return out;
  if (k == 0) {
    fill(out, 0.0);
    return out;
  }
  Operand a = operand(a_in, *this), b = operand(b_in, *this);
  cuda::Context& c = cuda::context(device_);
  bool dbl = a_in.dtype() == DType::Float64;
  double one_d = 1, zero_d = 0;
  float one_f = 1, zero_f = 0;
  const void* alpha = dbl ? static_cast<const void*>(&one_d) : &one_f;
  const void* beta = dbl ? static_cast<const void*>(&zero_d) : &zero_f;
  // True fp32 for float32 (the CPU parity tests rely on it); tensor cores for the half types.
  cublasComputeType_t compute = dbl                              ? CUBLAS_COMPUTE_64F
                                : a_in.dtype() == DType::Float32 ? CUBLAS_COMPUTE_32F_PEDANTIC
                                                                 : CUBLAS_COMPUTE_32F;
  cudaDataType_t type = cuda_type(a_in.dtype());
  // Column-major: C^T (n x m) = B^T (n x k) * A^T (k x m).
  SG_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      c.cublas, b.transposed ? CUBLAS_OP_T : CUBLAS_OP_N, a.transposed ? CUBLAS_OP_T : CUBLAS_OP_N,
      int(n), int(m), int(k), alpha, b.t.raw_data(), type, int(b.ld),
      b_in.dim() == 3 && b_in.shape()[0] > 1 ? b.batch_stride : 0, a.t.raw_data(), type, int(a.ld),
      batched && a_in.shape()[0] > 1 ? a.batch_stride : 0, beta, out.raw_data(), type, int(n),
      m * n, int(batch), compute, CUBLAS_GEMM_DEFAULT));
  return out;
}

}  // namespace sg
