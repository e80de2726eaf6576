// Log-softmax (a kernel pair) and the composites built on the recorded ops above:
// cross-entropy, l2-normalisation and cosine similarity.
#include "autograd/ops.h"
#include "engine/ops.h"

namespace sg {

namespace e = engine;

Tensor log_softmax(const Tensor& x, int64_t dim) {
  int64_t d = wrap_dim(dim, x.dim());
  Tensor y = e::log_softmax_forward(x, d);
  return record("log_softmax", y, {x},
                [sy = SavedTensor(y), d](const Tensor& g, const std::vector<bool>&) {
                  return Grads{e::log_softmax_backward(g, sy.get("log_softmax"), d)};
                });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  SG_CHECK(logits.dim() == 2, "cross_entropy: logits must be [N, C], got ",
           shape_str(logits.shape()));
  SG_CHECK(targets.dim() == 1 && targets.shape()[0] == logits.shape()[0], "cross_entropy: targets ",
           shape_str(targets.shape()), " do not match logits ", shape_str(logits.shape()));
  Tensor picked = gather(log_softmax(logits, 1), 1, e::unsqueeze(targets, 1));
  return neg(mean(picked));
}

Tensor l2_normalize(const Tensor& x, int64_t dim, double eps) {
  // max(||x||, eps) as sqrt(max(||x||^2, eps^2)): the same value, but a zero row's gradient is
  // finite (x / eps, as PyTorch's F.normalize gives) where sqrt's derivative at 0 is infinite
  // and clamp's zero times it made NaN.
  Tensor norm = sqrt(clamp_min(sum(x * x, {dim}, /*keepdim=*/true), eps * eps));
  return x / norm;
}

Tensor cosine_similarity(const Tensor& a, const Tensor& b, int64_t dim, double eps) {
  return sum(l2_normalize(a, dim, eps) * l2_normalize(b, dim, eps), {dim});
}

}  // namespace sg
