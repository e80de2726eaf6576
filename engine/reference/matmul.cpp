// Reference matmul: the textbook triple loop, batched over a leading dimension.
#include "engine/reference/reference_backend.h"

namespace sg {

Tensor ReferenceBackend::matmul(const Tensor& a, const Tensor& b) {
  // bf16: the sums of the exact products of bf16 numbers, rounded to bf16 at the end (through
  // float32, as add_relu_forward).
  if (a.dtype() == DType::BFloat16)
    return copy_as(matmul(copy_as(a, DType::Float32), copy_as(b, DType::Float32)), DType::BFloat16);
  bool batched = a.dim() == 3;
  int64_t batch = batched ? a.shape()[0] : 1;
  int64_t m = a.shape()[a.dim() - 2], k = a.shape()[a.dim() - 1], n = b.shape()[b.dim() - 1];
  Tensor out = Tensor::empty(batched ? Shape{batch, m, n} : Shape{m, n}, a.dtype());
  // Strides of the last two dimensions, and of the batch dimension (0 when unbatched).
  int64_t as0 = batched ? a.strides()[0] : 0, am = a.strides()[a.dim() - 2],
          ak = a.strides()[a.dim() - 1];
  int64_t bs0 = batched ? b.strides()[0] : 0, bk = b.strides()[b.dim() - 2],
          bn = b.strides()[b.dim() - 1];
  dispatch_floating(a.dtype(), "matmul", [&]<typename T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* o = out.data<T>();
    for (int64_t s = 0; s < batch; ++s)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double acc = 0;
          for (int64_t p = 0; p < k; ++p)
            acc += double(pa[s * as0 + i * am + p * ak]) * double(pb[s * bs0 + p * bk + j * bn]);
          o[(s * m + i) * n + j] = static_cast<T>(acc);
        }
  });
  return out;
}

}  // namespace sg
