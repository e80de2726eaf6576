// Full sums and means of large contiguous float32 tensors (the norms LARS needs), threaded,
// accumulated in double; other reductions go to the reference kernels.
#include "engine/onednn/onednn_backend.h"

namespace sg {

Tensor OneDnnBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                             bool keepdim) {
  bool everything = int64_t(dims.size()) == x.dim();
  if (!everything || !x.is_contiguous() || x.dtype() != DType::Float32 ||
      (op != ReduceOp::Sum && op != ReduceOp::Mean) || x.numel() < (int64_t(1) << 15))
    return ReferenceBackend::reduce(op, x, dims, keepdim);
  const float* p = x.data<float>();
  int64_t n = x.numel();
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static)
  for (int64_t i = 0; i < n; ++i) total += p[i];
  Tensor out = Tensor::full(keepdim ? Shape(x.dim(), 1) : Shape{},
                            op == ReduceOp::Mean ? total / double(n) : total);
  return out;
}

}  // namespace sg
