// oneDNN-backend memory and elementwise kernels. Same-shape operands in the same physical
// layout (contiguous, or the same blocked layout) are combined with one flat loop over the
// buffer, broadcasting arithmetic with oneDNN's binary primitive; transcendental functions and
// ReLU go through oneDNN's eltwise primitives.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "engine/onednn/context.h"
#include "engine/onednn/kernel_choice.h"
#include "engine/onednn/onednn_backend.h"
#include "engine/onednn/relu_backward_of_sum_bf16.h"
#include "engine/parallel.h"
#include "engine/shape.h"

namespace sg {

using namespace onednn;
using dnnl::memory;

namespace {

bool is_f32(const Tensor& t) { return t.dtype() == DType::Float32; }

// Blocked layouts may pad channels up to the block size; a flat loop would write into the
// padding, which oneDNN requires to stay zero.
bool has_padding(const Tensor& t) {
  if (t.is_strided()) return false;
  const auto& d = desc_of(t).data;
  for (int i = 0; i < d.ndims; ++i)
    if (d.padded_dims[i] != d.dims[i]) return true;
  return false;
}

// Whether t's bytes can be walked as one flat array of its elements.
bool flat(const Tensor& t) { return t.is_contiguous() || (!t.is_strided() && !has_padding(t)); }
int64_t flat_size(const Tensor& t) {
  return t.is_strided() ? t.numel() : int64_t(t.layout()->nbytes() / element_size(t.dtype()));
}

Tensor strided(const Tensor& t) { return t.is_strided() ? t : onednn_backend().to_strided(t); }

template <typename F>
void flat_loop(float* out, const float* a, const float* b, bool b_scalar, int64_t n, F f) {
  parallel_for(n, [&](int64_t begin, int64_t end) {
    if (b_scalar) {
      float s = b[0];
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) out[i] = f(a[i], s);
    } else {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) out[i] = f(a[i], b[i]);
    }
  });
}

// out = a op b over flat buffers; false when op has no flat kernel here.
bool flat_binary(BinaryOp op, float* out, const float* a, const float* b, bool b_scalar,
                 int64_t n) {
  switch (op) {
    case BinaryOp::Add:
      flat_loop(out, a, b, b_scalar, n, [](float x, float y) { return x + y; });
      return true;
    case BinaryOp::Sub:
      flat_loop(out, a, b, b_scalar, n, [](float x, float y) { return x - y; });
      return true;
    case BinaryOp::Mul:
      flat_loop(out, a, b, b_scalar, n, [](float x, float y) { return x * y; });
      return true;
    case BinaryOp::Div:
      flat_loop(out, a, b, b_scalar, n, [](float x, float y) { return x / y; });
      return true;
    case BinaryOp::Maximum:
      flat_loop(out, a, b, b_scalar, n, [](float x, float y) { return x > y ? x : y; });
      return true;
    case BinaryOp::Minimum:
      flat_loop(out, a, b, b_scalar, n, [](float x, float y) { return x < y ? x : y; });
      return true;
    default:
      return false;
  }
}

// b, of a's shape, in a's physical layout (a flat: contiguous or blocked without padding),
// so that one flat loop pairs their elements; undefined where b is strided otherwise.
Tensor in_flat_layout_of(const Tensor& a, const Tensor& b) {
  if (a.is_contiguous()) return b.is_contiguous() ? b : Tensor();
  return in_layout(b, desc_of(a));  // a blocked: reorder b into the same blocks
}

// b brought into a's physical layout when the two can be combined flat; undefined otherwise.
Tensor flat_partner(const Tensor& a, const Tensor& b) {
  if (!is_f32(a) || !is_f32(b) || !flat(a)) return Tensor();
  // A one-element b broadcasts over a, unless it has more dimensions (then the result is b's
  // shape, not a's).
  if (b.is_strided() && b.numel() == 1 && b.dim() <= a.dim()) return b;
  if (b.shape() != a.shape()) return Tensor();
  return in_flat_layout_of(a, b);
}

const float* float_data(const Tensor& t) { return static_cast<const float*>(t.raw_data()); }

// A broadcast view (stride 0 along some dimensions, as expand makes: the gradient of a sum
// spread back over the summed dimension) as the smaller tensor it views, with size 1 there;
// undefined when t is not such a view or the smaller tensor is not contiguous.
Tensor unexpanded(const Tensor& t) {
  if (!t.is_strided()) return Tensor();
  Shape shape = t.shape();
  bool broadcast = false;
  for (size_t d = 0; d < shape.size(); ++d)
    if (t.strides()[d] == 0 && shape[d] > 1) {
      shape[d] = 1;
      broadcast = true;
    }
  if (!broadcast) return Tensor();
  Tensor compact = t.as_strided(shape, t.strides(), t.offset());
  return compact.is_contiguous() ? compact : Tensor();
}

}  // namespace

Tensor OneDnnBackend::to_strided(const Tensor& x) {
  if (x.is_strided()) return x;
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  reorder(memory_of(x), memory_of(out));
  return out;
}

// Kept per weight version (context.h's cache), keyed also by shape and strides: two views of
// one storage at one offset are different matrices.
Tensor OneDnnBackend::weight_converted(const Tensor& w, DType dtype) {
  std::string tag("as ");
  tag += dtype_name(dtype);
  tag += shape_str(w.shape());
  if (w.is_strided())
    for (int64_t stride : w.strides()) {
      tag += ' ';
      tag += std::to_string(stride);
    }
  return cached_derived(w, tag, [&](const Tensor& from, Tensor out) {
    if (!out.defined()) out = Tensor::empty(from.shape(), dtype, from.device());
    copy(out, to_strided(from));
    return out;
  });
}

void OneDnnBackend::copy(const Tensor& dst, const Tensor& src) {
  bool onednn_types = (is_f32(dst) || dst.dtype() == DType::BFloat16) &&
                      (is_f32(src) || src.dtype() == DType::BFloat16);
  bool broadcast =
      src.is_strided() && std::count(src.strides().begin(), src.strides().end(), 0) > 0;
  if (dst.dtype() != src.dtype() && dst.is_contiguous() && src.is_contiguous() &&
      dst.shape() == src.shape() && convert_flat(src, dst, size_t(dst.numel())))
    return;
  if (onednn_types && !broadcast && dst.numel() > 0) {
    reorder(memory_of(src), memory_of(dst));
    return;
  }
  if (dst.is_strided()) return ReferenceBackend::copy(dst, strided(src));
  Tensor tmp = Tensor::empty(dst.shape(), dst.dtype());
  ReferenceBackend::copy(tmp, strided(src));
  reorder(memory_of(tmp), memory_of(dst));
}

void OneDnnBackend::fill(const Tensor& dst, double value) {
  if (is_f32(dst) && flat(dst)) {
    float* p = static_cast<float*>(dst.raw_data());
    float v = static_cast<float>(value);
    parallel_for(flat_size(dst), [&](int64_t b, int64_t e) { std::fill(p + b, p + e, v); });
    return;
  }
  if (dst.is_strided()) return ReferenceBackend::fill(dst, value);
  Tensor tmp = Tensor::full(dst.shape(), value, dst.dtype());
  reorder(memory_of(tmp), memory_of(dst));
}

Tensor OneDnnBackend::unary(UnaryOp op, const Tensor& x) {
  dnnl::algorithm alg;
  float alpha = 0;
  switch (op) {
    case UnaryOp::Exp:
      alg = dnnl::algorithm::eltwise_exp;
      break;
    case UnaryOp::Log:
      alg = dnnl::algorithm::eltwise_log;
      break;
    case UnaryOp::Sqrt:
      alg = dnnl::algorithm::eltwise_sqrt;
      break;
    case UnaryOp::Abs:
      alg = dnnl::algorithm::eltwise_abs;
      break;
    case UnaryOp::Neg:
      alg = dnnl::algorithm::eltwise_linear, alpha = -1;
      break;
    default:
      return ReferenceBackend::unary(op, strided(x));
  }
  if (!is_f32(x) || !flat(x)) return ReferenceBackend::unary(op, strided(x));
  memory::desc d = desc_of(x);
  const auto& p = cached_primitive(
      "eltwise|" + std::to_string(int(alg)) + "|" + std::to_string(alpha) + "|" + desc_key(d), [&] {
        dnnl::eltwise_forward::primitive_desc pd(
            {dnnl::prop_kind::forward_inference, alg, d, alpha, 0.f}, default_attr(), cpu_engine());
        return CachedPrimitive{pd, dnnl::eltwise_forward(pd)};
      });
  Tensor y = empty_same_layout(x);
  execute(p, {{DNNL_ARG_SRC, memory_of(x)}, {DNNL_ARG_DST, memory_of(y, d)}});
  return y;
}

// The arithmetic ops oneDNN's binary primitive computes as the reference does (one IEEE
// operation per element, so the same bits).
std::optional<dnnl::algorithm> binary_algorithm(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add:
      return dnnl::algorithm::binary_add;
    case BinaryOp::Sub:
      return dnnl::algorithm::binary_sub;
    case BinaryOp::Mul:
      return dnnl::algorithm::binary_mul;
    case BinaryOp::Div:
      return dnnl::algorithm::binary_div;
    default:
      return std::nullopt;
  }
}

// With `relu`, a ReLU post-op on the result (add_relu_forward), in the same pass.
Tensor run_binary(dnnl::algorithm alg, const Tensor& a, const memory::desc& da, const Tensor& b,
                  const memory::desc& db, bool relu = false) {
  const auto& p =
      cached_primitive("binary|" + std::to_string(int(alg)) + "|" + desc_key(da) + "|" +
                           desc_key(db) + (relu ? "|relu" : ""),
                       [&] {
                         dnnl::primitive_attr attr = default_attr();
                         if (relu) {
                           dnnl::post_ops ops;
                           ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
                           attr.set_post_ops(ops);
                         }
                         dnnl::binary::primitive_desc pd({alg, da, db, da}, attr, cpu_engine());
                         return CachedPrimitive{pd, dnnl::binary(pd)};
                       });
  Tensor out = empty_same_layout(a);
  execute(p, {{DNNL_ARG_SRC_0, memory_of(a, da)},
              {DNNL_ARG_SRC_1, memory_of(b, db)},
              {DNNL_ARG_DST, memory_of(out, da)}});
  return out;
}

// bfloat16 operands of one shape (residual adds, gradient sums): oneDNN's binary primitive,
// with b brought into a's layout.
std::optional<Tensor> bf16_binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != DType::BFloat16 || b.dtype() != DType::BFloat16 || a.shape() != b.shape())
    return std::nullopt;
  if (a.is_strided() && !a.is_contiguous()) return std::nullopt;
  if (emulate_bf16(a)) return narrowed(onednn_backend().binary(op, widened(a), widened(b)));
  if (op != BinaryOp::Add && op != BinaryOp::Sub && op != BinaryOp::Mul) return std::nullopt;
  memory::desc d = desc_of(a);
  return run_binary(*binary_algorithm(op), a, d, in_layout(b, d), d);
}

// float32 a op b where b broadcasts to a's shape (per-row scalars such as [B, D] / [B, 1] in
// the cosine loss, per-column vectors, [1] against anything): oneDNN's binary primitive, which
// broadcasts its second source. Both plain contiguous; b's shape is padded with leading 1s.
std::optional<Tensor> broadcast_binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  auto alg = binary_algorithm(op);
  if (!alg || !is_f32(a) || !is_f32(b) || !a.is_contiguous() || !b.is_contiguous() ||
      a.dim() == 0 || b.dim() > a.dim() || a.numel() == 0)
    return std::nullopt;
  Shape padded(size_t(a.dim() - b.dim()), 1);
  padded.insert(padded.end(), b.shape().begin(), b.shape().end());
  for (int64_t d = 0; d < a.dim(); ++d)
    if (padded[d] != a.shape()[d] && padded[d] != 1) return std::nullopt;
  memory::desc db(dims(padded), memory::data_type::f32, dims(contiguous_strides(padded)));
  return run_binary(*alg, a, desc_of(a), b, db);
}

Tensor OneDnnBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  if (auto out = bf16_binary(op, a, b)) return *out;
  // An expanded operand of the other's shape is a broadcasting one: so it takes the kernels
  // below instead of the reference's element-by-element loop (the cosine loss's backward
  // multiplies each [B, D] row by its expanded [B, 1] gradient, 6 times a SimSiam step).
  if (a.shape() == b.shape()) {
    if (Tensor small = unexpanded(b); small.defined()) return binary(op, a, small);
    // a + b and a * b are b + a and b * a to the bit; not so max and min with a NaN.
    if (Tensor small = unexpanded(a);
        small.defined() && (op == BinaryOp::Add || op == BinaryOp::Mul))
      return binary(op, b, small);
  }
  if (Tensor partner = flat_partner(a, b); partner.defined()) {
    Tensor out = empty_same_layout(a);
    if (flat_binary(op, static_cast<float*>(out.raw_data()), float_data(a), float_data(partner),
                    partner.numel() == 1 && a.numel() != 1, flat_size(a)))
      return out;
  }
  if (auto out = broadcast_binary(op, a, b)) return *out;
  // Commutative ops with the full-shape operand first, where only a broadcasts (a scalar, a
  // row or column vector). Only to the strictly larger operand: [1] op [] must not swap back.
  bool commutative = op == BinaryOp::Add || op == BinaryOp::Mul || op == BinaryOp::Maximum ||
                     op == BinaryOp::Minimum;
  if (commutative && b.numel() > a.numel() && broadcast_shapes(a.shape(), b.shape()) == b.shape())
    return binary(op, b, a);
  return ReferenceBackend::binary(op, strided(a), strided(b));
}

void OneDnnBackend::binary_inplace(BinaryOp op, const Tensor& self, const Tensor& other) {
  if (Tensor partner = flat_partner(self, other); partner.defined()) {
    float* s = static_cast<float*>(self.raw_data());
    if (flat_binary(op, s, s, float_data(partner), partner.numel() == 1 && self.numel() != 1,
                    flat_size(self)))
      return;
  }
  if (self.is_strided()) return ReferenceBackend::binary_inplace(op, self, strided(other));
  Tensor result = ReferenceBackend::binary(op, strided(self), strided(other));
  reorder(memory_of(result), memory_of(self));
}

Tensor OneDnnBackend::relu_forward(const Tensor& x) {
  if ((!is_f32(x) && x.dtype() != DType::BFloat16) || (x.is_strided() && !x.is_contiguous()))
    return ReferenceBackend::relu_forward(strided(x));
  if (emulate_bf16(x)) return narrowed(relu_forward(widened(x)));
  memory::desc d = desc_of(x);
  const auto& p = cached_primitive("relu_fwd|" + desc_key(d), [&] {
    dnnl::eltwise_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_training, dnnl::algorithm::eltwise_relu_use_dst_for_bwd, d, 0.f,
         0.f},
        default_attr(), cpu_engine());
    return CachedPrimitive{pd, dnnl::eltwise_forward(pd)};
  });
  Tensor y = empty_same_layout(x);
  execute(p, {{DNNL_ARG_SRC, memory_of(x)}, {DNNL_ARG_DST, memory_of(y, d)}});
  return y;
}

namespace {
// Where y > 0, g1 + g2; else 0 (bf16: relu_backward_of_sum_bf16.h). Cloned per ISA as the
// conversion loops (context.cpp), so that the compiler vectorises it.
[[gnu::target_clones("avx512f", "avx2", "default")]] void relu_backward_of_sum_f32_part(
    const float* g1, const float* g2, const float* y, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = y[i] > 0.f ? g1[i] + g2[i] : 0.f;
}

void relu_backward_of_sum_f32(const float* g1, const float* g2, const float* y, float* out,
                              int64_t n) {
  parallel_for(n, [&](int64_t i, int64_t end) {
    relu_backward_of_sum_f32_part(g1 + i, g2 + i, y + i, out + i, end - i);
  });
}
}  // namespace

// One pass over the three tensors instead of two passes (the sum, then the ReLU's backward):
// a residual block's output gradient arrives from the next block's two branches.
Tensor OneDnnBackend::relu_backward_of_sum(const Tensor& g1, const Tensor& g2, const Tensor& y) {
  const bool bf16 = y.dtype() == DType::BFloat16;
  const bool ours = ((bf16 && avx512_bf16_usable()) || is_f32(y)) && flat(y);
  Tensor a = ours ? in_flat_layout_of(y, g1) : Tensor();
  Tensor b = a.defined() ? in_flat_layout_of(y, g2) : Tensor();
  if (!b.defined()) return Backend::relu_backward_of_sum(g1, g2, y);
  // Through raw_data(): a, b, y and out may be blocked, where data<T>() refuses.
  Tensor out = empty_same_layout(y);
  if (bf16) {
    auto bits = [](const Tensor& t) { return static_cast<uint16_t*>(t.raw_data()); };
    relu_backward_of_sum_bf16(bits(a), bits(b), bits(y), bits(out), flat_size(y));
  } else {
    relu_backward_of_sum_f32(float_data(a), float_data(b), float_data(y),
                             static_cast<float*>(out.raw_data()), flat_size(y));
  }
  return out;
}

// One pass instead of two: bf16 through oneDNN's binary add with a ReLU post-op (float32 sum,
// ReLU, one rounding: the values of the sum rounded, then the ReLU), float32 through the flat
// loop; anything else as the sum, then the ReLU.
Tensor OneDnnBackend::add_relu_forward(const Tensor& a, const Tensor& b) {
  if (emulate_bf16(a)) return narrowed(add_relu_forward(widened(a), widened(b)));
  if (a.dtype() == DType::BFloat16 && !(a.is_strided() && !a.is_contiguous())) {
    memory::desc d = desc_of(a);
    return run_binary(dnnl::algorithm::binary_add, a, d, in_layout(b, d), d, /*relu=*/true);
  }
  if (Tensor partner = flat_partner(a, b); partner.defined()) {
    Tensor out = empty_same_layout(a);
    flat_loop(static_cast<float*>(out.raw_data()), float_data(a), float_data(partner), false,
              flat_size(a), [](float x, float y) {
                float s = x + y;
                return s > 0.f ? s : 0.f;
              });
    return out;
  }
  return relu_forward(binary(BinaryOp::Add, a, b));
}

Tensor OneDnnBackend::relu_backward(const Tensor& grad_y, const Tensor& y) {
  if ((!is_f32(y) && y.dtype() != DType::BFloat16) || (y.is_strided() && !y.is_contiguous()))
    return ReferenceBackend::relu_backward(strided(grad_y), strided(y));
  if (emulate_bf16(y) || emulate_bf16(grad_y)) {
    Tensor dx = relu_backward(widened(grad_y), widened(y));
    return y.dtype() == DType::BFloat16 ? narrowed(dx) : dx;
  }
  memory::desc d = desc_of(y);
  Tensor g = in_layout(grad_y, d);
  const auto& p = cached_primitive("relu_bwd|" + desc_key(d), [&] {
    dnnl::eltwise_forward::primitive_desc hint(
        {dnnl::prop_kind::forward_training, dnnl::algorithm::eltwise_relu_use_dst_for_bwd, d, 0.f,
         0.f},
        cpu_engine());
    dnnl::eltwise_backward::primitive_desc pd(
        {dnnl::algorithm::eltwise_relu_use_dst_for_bwd, d, d, 0.f, 0.f}, default_attr(),
        cpu_engine(), hint);
    return CachedPrimitive{pd, dnnl::eltwise_backward(pd)};
  });
  Tensor dx = empty_same_layout(y);
  execute(p, {{DNNL_ARG_DST, memory_of(y)},
              {DNNL_ARG_DIFF_DST, memory_of(g, d)},
              {DNNL_ARG_DIFF_SRC, memory_of(dx, d)}});
  return dx;
}

}  // namespace sg
