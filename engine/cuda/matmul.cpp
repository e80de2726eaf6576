// cuBLAS matmul: the arguments come from engine/cuda/gemm_plan.h (tested on the host);
// bfloat16 multiplies on tensor cores with float accumulation.
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/cuda_context.h"
#include "engine/cuda/gemm_plan.h"

namespace sg {

namespace {

// The operand as cuBLAS will read it: x itself, or a contiguous copy when no flag describes it.
std::pair<Tensor, cuda::GemmOperand> gemm_operand(const Tensor& x, Backend& backend) {
  cuda::GemmOperand d = cuda::describe_gemm_operand(x.shape(), x.strides());
  if (d.usable) return {x, d};
  Tensor c = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend.copy(c, x);
  return {c, cuda::describe_gemm_operand(c.shape(), c.strides())};
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
  auto [a, a_desc] = gemm_operand(a_in, *this);
  auto [b, b_desc] = gemm_operand(b_in, *this);
  cuda::GemmCall g = cuda::plan_gemm(a.shape(), a_desc, b.shape(), b_desc);
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
  SG_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      c.cublas, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
      int(g.m), int(g.n), int(g.k), alpha, b.raw_data(), type, int(g.lda), g.stride_a, a.raw_data(),
      type, int(g.ldb), g.stride_b, beta, out.raw_data(), type, int(g.ldc), g.stride_c,
      int(g.batch), compute, CUBLAS_GEMM_DEFAULT));
  return out;
}

}  // namespace sg
