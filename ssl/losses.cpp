#include "ssl/losses.h"

#include <cmath>

namespace sg {

namespace e = engine;

Tensor negative_cosine(const Tensor& p, const Tensor& z) {
  return neg(mean(cosine_similarity(p, z, 1)));
}

namespace {
Tensor target(const Tensor& z, SslOptions o) { return o.stop_grad ? detach(z) : z; }

// Row i of the result is row i of `first` where pick_first[i], else row i of `second`.
Tensor pick_rows(const std::vector<int>& use_second, const Tensor& first, const Tensor& second) {
  std::vector<double> mask(use_second.begin(), use_second.end());
  Tensor m = Tensor::from_vector(mask, {int64_t(mask.size()), 1}, first.dtype());
  return where(e::to(m, first.device()), second, first);
}

std::vector<int> flipped(const std::vector<int>& v) {
  std::vector<int> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = 1 - v[i];
  return out;
}
}  // namespace

Tensor simsiam_loss(const Tensor& z1, const Tensor& z2, const Head& h, SslOptions o) {
  return negative_cosine(h(z1), target(z2, o)) * 0.5 + negative_cosine(h(z2), target(z1, o)) * 0.5;
}

GsgChoice gsg_select(const Tensor& z1, const Tensor& z2, const Tensor& perm) {
  NoGradGuard no_grad;
  int64_t n = z1.shape()[0];
  SG_CHECK(perm.numel() == n, "gsg_select: permutation of ", perm.numel(), " for a batch of ", n);
  Tensor on_device = e::to(perm, z1.device());  // a no-op when the caller already moved it
  Tensor partner1 = e::index_select(z1, 0, on_device);
  Tensor partner2 = e::index_select(z2, 0, on_device);
  // Squared distances of the four cross-image pairs (sqrt keeps the order), read back to the
  // host in one transfer as [n, 4].
  auto dist = [](const Tensor& a, const Tensor& b) {
    Tensor d = e::sub(a, b);
    return e::sum(e::mul(d, d), {1});
  };
  std::vector<double> d =
      e::stack({dist(z1, partner1), dist(z1, partner2), dist(z2, partner1), dist(z2, partner2)}, 1)
          .to_vector();
  GsgChoice c;
  for (int64_t i = 0; i < n; ++i) {
    int best = 0;
    for (int k = 1; k < 4; ++k)
      if (d[size_t(i * 4 + k)] < d[size_t(i * 4 + best)]) best = k;
    c.a.push_back(best / 2);
    c.b.push_back(best % 2);
    ++c.counts[best];
  }
  return c;
}

Tensor byol_loss(const Tensor& z1, const Tensor& z2, const Tensor& t1, const Tensor& t2,
                 const Head& h) {
  return negative_cosine(h(z1), detach(t2)) * 0.5 + negative_cosine(h(z2), detach(t1)) * 0.5;
}

Tensor gsg_loss(const Tensor& z1, const Tensor& z2, const Tensor& t1, const Tensor& t2,
                const Tensor& perm, const GsgChoice& c, const Head& h, SslOptions o) {
  Tensor source_i = pick_rows(c.a, z1, z2), target_i = pick_rows(flipped(c.a), t1, t2);
  Tensor on_device = e::to(perm, z1.device());  // a no-op when the caller already moved it
  Tensor pz1 = index_select(z1, 0, on_device), pz2 = index_select(z2, 0, on_device);
  Tensor pt1 = index_select(t1, 0, on_device), pt2 = index_select(t2, 0, on_device);
  Tensor source_j = pick_rows(c.b, pz1, pz2), target_j = pick_rows(flipped(c.b), pt1, pt2);
  return negative_cosine(h(source_i), target(target_i, o)) * 0.5 +
         negative_cosine(h(source_j), target(target_j, o)) * 0.5;
}

double z_std(const Tensor& z) {
  NoGradGuard no_grad;
  Tensor n = l2_normalize(e::to(z, DType::Float32), 1);
  Tensor centered = n - mean(n, {0}, true);
  return mean(sqrt(mean(centered * centered, {0}))).item() * std::sqrt(double(z.shape()[1]));
}

}  // namespace sg
