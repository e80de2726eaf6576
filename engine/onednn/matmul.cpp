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
    const auto& p = cached_primitive("matmul|" + desc_key(da) + "|" + desc_key(db), [&] {
      dnnl::matmul::primitive_desc pd({da, db, dy}, default_attr(), cpu_engine());
      return CachedPrimitive{pd, dnnl::matmul(pd)};
    });
    execute(p, {{DNNL_ARG_SRC, memory_of(a)},
                {DNNL_ARG_WEIGHTS, memory_of(b)},
                {DNNL_ARG_DST, memory_of(y)}});
  } catch (const dnnl::error&) {
    return ReferenceBackend::matmul(a, b);  // a stride pattern oneDNN's matmul does not take
  }
  return y;
}

}  // namespace sg
