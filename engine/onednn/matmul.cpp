// oneDNN matmul for float32 (Linear layers, GSG's distances) and bf16 (the SSL heads' products
// under --precision bf16, as PyTorch's autocast runs Linear): any stride pattern oneDNN's
// matmul takes; others, and other dtypes, go to the reference kernel.
#include "engine/onednn/context.h"
#include "engine/onednn/onednn_backend.h"

namespace sg {

using namespace onednn;
using dnnl::memory;

namespace {
bool is(const Tensor& t, DType dtype) { return t.dtype() == dtype; }
}  // namespace

Tensor OneDnnBackend::matmul(const Tensor& a, const Tensor& b) {
  bool bf16 = is(a, DType::BFloat16) && is(b, DType::BFloat16);
  if (!bf16 && !(is(a, DType::Float32) && is(b, DType::Float32)))
    return ReferenceBackend::matmul(a, b);
  // Where bf16 dot products are slow or absent (kernel_choice.h), the fp32 kernel on the
  // bf16 operands computes the same sums: each product of two bf16 numbers is exact in fp32.
  if (bf16 && bf16_conv_via_fp32(a)) return narrowed(matmul(widened(a), widened(b)));
  Shape out_shape = a.shape();
  out_shape.back() = b.shape().back();
  Tensor y = Tensor::empty(out_shape, a.dtype());
  memory::desc da = desc_of(a), db = desc_of(b), dy = desc_of(y);
  try {
    run_matmul(da, a.raw_data(), db, b.raw_data(), dy, y.raw_data());
  } catch (const dnnl::error&) {
    return ReferenceBackend::matmul(a, b);  // a stride pattern oneDNN's matmul does not take
  }
  return y;
}

}  // namespace sg
