#pragma once
// Shapes shared by the normalisation ops (batch_norm.cpp, sync_batch_norm.cpp): a per-channel
// vector [C] broadcast against x [N, C, ...], and the dims a per-channel statistic sums over.
#include <vector>

#include "engine/ops.h"

namespace sg::detail {

inline Tensor per_channel(const Tensor& v, const Tensor& x) {
  Shape s(x.dim(), 1);
  s[1] = x.shape()[1];
  return engine::reshape(v, s);
}

inline std::vector<int64_t> non_channel_dims(const Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

}  // namespace sg::detail
