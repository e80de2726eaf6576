// oneDNN pooling. Max pooling keeps oneDNN's workspace (where each maximum was) as the
// "indices" tensor, in oneDNN's own layout, for its backward.
#include <optional>

#include "engine/onednn/context.h"
#include "engine/onednn/onednn_backend.h"
#include "engine/ops.h"

namespace sg {

using namespace onednn;
using dnnl::memory;

namespace {

bool supported(const Tensor& x) {
  return (x.dtype() == DType::Float32 || x.dtype() == DType::BFloat16) &&
         (!x.is_strided() || x.is_contiguous());
}

// oneDNN wants the right padding that makes its output size equal ours (floor mode); that can
// be smaller than the left padding, but not negative.
int64_t right_padding(const Shape& x, const Shape& y, Pool2dOptions o, int d) {
  return (y[d] - 1) * o.stride + o.kernel - x[d] - o.padding;
}

bool expressible(const Shape& x, const Shape& y, Pool2dOptions o) {
  return right_padding(x, y, o, 2) >= 0 && right_padding(x, y, o, 3) >= 0;
}

dnnl::pooling_forward::primitive_desc forward_pd(dnnl::algorithm alg, const memory::desc& src,
                                                 const Shape& x, const Shape& y, Pool2dOptions o) {
  memory::desc dst(dims(y), src.data_type(), memory::format_tag::any);
  dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_training, alg, src, dst,
                                {o.stride, o.stride}, {o.kernel, o.kernel}, {o.padding, o.padding},
                                {right_padding(x, y, o, 2), right_padding(x, y, o, 3)});
  return dnnl::pooling_forward::primitive_desc(d, default_attr(), cpu_engine());
}

std::string key(const char* op, const memory::desc& d, Pool2dOptions o) {
  return std::string(op) + "|" + desc_key(d) + "|" + std::to_string(o.kernel) + "," +
         std::to_string(o.stride) + "," + std::to_string(o.padding);
}

struct PoolForward {
  Tensor y, workspace;
};

PoolForward pool_forward(dnnl::algorithm alg, const Tensor& x, Pool2dOptions o) {
  Shape ys = engine::pool2d_output_shape(x.shape(), o);
  memory::desc src = desc_of(x);
  const auto& p = cached_primitive(
      key(alg == dnnl::algorithm::pooling_max ? "maxpool_fwd" : "avgpool_fwd", src, o), [&] {
        auto pd = forward_pd(alg, src, x.shape(), ys, o);
        return CachedPrimitive{pd, dnnl::pooling_forward(pd)};
      });
  PoolForward out;
  out.y = empty_like_desc(p.pd.dst_desc(), ys, x.dtype());
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory_of(x)},
                                       {DNNL_ARG_DST, memory_of(out.y, p.pd.dst_desc())}};
  memory::desc ws = p.pd.workspace_desc();
  if (ws.get_size() > 0) {
    out.workspace =
        Tensor::empty_opaque(ys, DType::Int64, Device::cpu(), std::make_shared<BlockedLayout>(ws));
    args.emplace(DNNL_ARG_WORKSPACE, memory(ws, cpu_engine(), out.workspace.raw_data()));
  }
  execute(p, args);
  return out;
}

// The layout the forward's input had: pooling keeps the layout, so it is the gradient's (dense
// nchw, or channel blocks of 4, 8 or 16), applied to the input's shape.
std::optional<memory::desc> source_layout(const Tensor& grad_y, const Shape& x_shape) {
  auto dt = data_type(grad_y.dtype());
  if (grad_y.is_contiguous()) return memory::desc(dims(x_shape), dt, memory::format_tag::nchw);
  if (grad_y.is_strided()) return std::nullopt;
  const auto& b = desc_of(grad_y).data.format_desc.blocking;
  if (b.inner_nblks != 1 || b.inner_idxs[0] != 1) return std::nullopt;
  switch (b.inner_blks[0]) {
    case 4:
      return memory::desc(dims(x_shape), dt, memory::format_tag::nChw4c);
    case 8:
      return memory::desc(dims(x_shape), dt, memory::format_tag::nChw8c);
    case 16:
      return memory::desc(dims(x_shape), dt, memory::format_tag::nChw16c);
    default:
      return std::nullopt;
  }
}

Tensor pool_backward(dnnl::algorithm alg, const Tensor& grad_y_in, const Tensor& workspace,
                     const Shape& x_shape, Pool2dOptions o) {
  auto src_layout = source_layout(grad_y_in, x_shape);
  Tensor grad_y = src_layout ? grad_y_in : onednn_backend().to_strided(grad_y_in);
  if (!src_layout) src_layout = source_layout(grad_y, x_shape);
  memory::desc diff_dst = desc_of(grad_y);
  memory::desc diff_src = *src_layout;
  const auto& p = cached_primitive(
      key(alg == dnnl::algorithm::pooling_max ? "maxpool_bwd" : "avgpool_bwd", diff_dst, o) +
          shape_str(x_shape),
      [&] {
        dnnl::pooling_forward::desc fd(dnnl::prop_kind::forward_training, alg, diff_src, diff_dst,
                                       {o.stride, o.stride}, {o.kernel, o.kernel},
                                       {o.padding, o.padding},
                                       {right_padding(x_shape, grad_y.shape(), o, 2),
                                        right_padding(x_shape, grad_y.shape(), o, 3)});
        dnnl::pooling_forward::primitive_desc hint(fd, cpu_engine());
        dnnl::pooling_backward::desc bd(alg, diff_src, diff_dst, {o.stride, o.stride},
                                        {o.kernel, o.kernel}, {o.padding, o.padding},
                                        {right_padding(x_shape, grad_y.shape(), o, 2),
                                         right_padding(x_shape, grad_y.shape(), o, 3)});
        dnnl::pooling_backward::primitive_desc pd(bd, default_attr(), cpu_engine(), hint);
        return CachedPrimitive{pd, dnnl::pooling_backward(pd)};
      });
  Tensor g = in_layout(grad_y, p.pd.diff_dst_desc());
  Tensor dx = empty_like_desc(p.pd.diff_src_desc(), x_shape, grad_y.dtype());
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, memory_of(g)},
                                       {DNNL_ARG_DIFF_SRC, memory_of(dx, p.pd.diff_src_desc())}};
  if (workspace.defined()) {
    SG_CHECK(!workspace.is_strided(),
             "max_pool2d_backward: indices did not come from the oneDNN forward");
    args.emplace(DNNL_ARG_WORKSPACE,
                 memory(p.pd.workspace_desc(), cpu_engine(), workspace.raw_data()));
  }
  execute(p, args);
  return dx;
}

}  // namespace

MaxPool2dForward OneDnnBackend::max_pool2d_forward(const Tensor& x, Pool2dOptions o) {
  if (!supported(x) || !expressible(x.shape(), engine::pool2d_output_shape(x.shape(), o), o))
    return ReferenceBackend::max_pool2d_forward(to_strided(x), o);
  if (emulate_bf16(x)) {
    MaxPool2dForward f = max_pool2d_forward(widened(x), o);
    return {narrowed(f.y), f.indices};
  }
  PoolForward f = pool_forward(dnnl::algorithm::pooling_max, x, o);
  return {f.y, f.workspace};
}

Tensor OneDnnBackend::max_pool2d_backward(const Tensor& grad_y, const Tensor& indices,
                                          const Shape& x_shape, Pool2dOptions o) {
  // Strided int64 indices came from the reference forward (float64, or a shape oneDNN skipped).
  if (indices.is_strided())
    return ReferenceBackend::max_pool2d_backward(to_strided(grad_y), indices, x_shape, o);
  if (emulate_bf16(grad_y))
    return narrowed(max_pool2d_backward(widened(grad_y), indices, x_shape, o));
  return pool_backward(dnnl::algorithm::pooling_max, grad_y, indices, x_shape, o);
}

Tensor OneDnnBackend::avg_pool2d_forward(const Tensor& x, Pool2dOptions o) {
  if (!supported(x) || !expressible(x.shape(), engine::pool2d_output_shape(x.shape(), o), o))
    return ReferenceBackend::avg_pool2d_forward(to_strided(x), o);
  if (emulate_bf16(x)) return narrowed(avg_pool2d_forward(widened(x), o));
  return pool_forward(dnnl::algorithm::pooling_avg_include_padding, x, o).y;
}

Tensor OneDnnBackend::avg_pool2d_backward(const Tensor& grad_y, const Shape& x_shape,
                                          Pool2dOptions o) {
  if (!supported(grad_y) || !expressible(x_shape, grad_y.shape(), o))
    return ReferenceBackend::avg_pool2d_backward(to_strided(grad_y), x_shape, o);
  if (emulate_bf16(grad_y)) return narrowed(avg_pool2d_backward(widened(grad_y), x_shape, o));
  return pool_backward(dnnl::algorithm::pooling_avg_include_padding, grad_y, Tensor(), x_shape, o);
}

}  // namespace sg
