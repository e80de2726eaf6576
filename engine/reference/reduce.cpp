// Reference reductions: every input element is added into the output slot it reduces to.
#include <algorithm>
#include <limits>

#include "engine/reference/reference_backend.h"
#include "engine/reference/strided_walk.h"

namespace sg {

using reference::StridedWalk;

Tensor ReferenceBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                                bool keepdim) {
  Shape out_shape = reduced_shape(x.shape(), dims, keepdim);
  Tensor out = Tensor::empty(out_shape, x.dtype());
  // Output strides seen from the input's index space: 0 along reduced dimensions.
  Shape kept = reduced_shape(x.shape(), dims, /*keepdim=*/true);
  Strides kept_strides = contiguous_strides(kept);
  Strides walk_strides(x.dim());
  for (int64_t d = 0; d < x.dim(); ++d)
    walk_strides[d] = std::find(dims.begin(), dims.end(), d) != dims.end() ? 0 : kept_strides[d];

  int64_t count = out.numel() == 0 ? 0 : x.numel() / std::max<int64_t>(out.numel(), 1);
  SG_CHECK(count > 0 || op == ReduceOp::Sum || op == ReduceOp::Mean,
           "max/min over an empty dimension of shape ", shape_str(x.shape()));
  double init = op == ReduceOp::Max   ? -std::numeric_limits<double>::infinity()
                : op == ReduceOp::Min ? std::numeric_limits<double>::infinity()
                                      : 0.0;
  std::vector<double> acc(out.numel(), init);
  dispatch_floating(x.dtype(), "reduce", [&]<typename T>() {
    StridedWalk<2> walk(x.shape(), {x.strides(), walk_strides});
    const T* in = x.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i, walk.next()) {
      double v = in[walk.offset(0)];
      double& a = acc[walk.offset(1)];
      switch (op) {
        case ReduceOp::Sum:
        case ReduceOp::Mean:
          a += v;
          break;
        case ReduceOp::Max:
          a = v > a ? v : a;
          break;
        case ReduceOp::Min:
          a = v < a ? v : a;
          break;
      }
    }
    T* o = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i)
      o[i] = static_cast<T>(op == ReduceOp::Mean ? acc[i] / double(count) : acc[i]);
  });
  return out;
}

Tensor ReferenceBackend::arg_reduce(ArgReduceOp op, const Tensor& x, int64_t dim, bool keepdim) {
  Shape out_shape = reduced_shape(x.shape(), {dim}, keepdim);
  Tensor out = Tensor::empty(out_shape, DType::Int64);
  // Walk every position of the kept dimensions; scan along `dim` at each.
  Shape outer = x.shape();
  outer[dim] = 1;
  dispatch_floating(x.dtype(), "arg_reduce", [&]<typename T>() {
    StridedWalk<1> walk(outer, {x.strides()});
    const T* in = x.data<T>();
    int64_t* o = out.data<int64_t>();
    for (int64_t i = 0; i < numel(outer); ++i, walk.next()) {
      int64_t best = 0;
      for (int64_t k = 1; k < x.shape()[dim]; ++k) {
        T v = in[walk.offset(0) + k * x.strides()[dim]];
        T b = in[walk.offset(0) + best * x.strides()[dim]];
        if (op == ArgReduceOp::Argmin ? v < b : v > b) best = k;
      }
      o[i] = best;  // first index wins ties, as in PyTorch
    }
  });
  return out;
}

}  // namespace sg
