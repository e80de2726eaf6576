// oneDNN matmul for float32 (Linear layers, GSG's distances): any stride pattern oneDNN's matmul
// takes; others, and other dtypes, go to the reference kernel.
#include "engine/onednn/context.h"
#include "engine/onednn/onednn_backend.h"

namespace sg {

using namespace onednn;
using dnnl::memory;

namespace {
bool is_f32(const Tensor& t) { return t.dtype() == DType::Float32; }
}  // namespace

Tensor OneDnnBackend::matmul(const Tensor& a, const Tensor& b) {
  if (!is_f32(a) || !is_f32(b)) return ReferenceBackend::matmul(a, b);
  Shape out_shape = a.shape();
  out_shape.back() = b.shape().back();
  Tensor y = Tensor::empty(out_shape, DType::Float32);
  memory::desc da = desc_of(a), db = desc_of(b), dy = desc_of(y);
  try {
    run_matmul(da, a.raw_data(), db, b.raw_data(), dy, y.raw_data());
  } catch (const dnnl::error&) {
    return ReferenceBackend::matmul(a, b);  // a stride pattern oneDNN's matmul does not take
  }
  return y;
}

}  // namespace sg
