#include "ssl/losses.h"

#include <cmath>

namespace sg {

namespace e = engine;

Tensor negative_cosine(const Tensor& p, const Tensor& z) {
  return neg(mean(cosine_similarity(p, z, 1)));
}

namespace {
Tensor target(const Tensor& z, SslOptions o) { return o.stop_grad ? detach(z) : z; }

// Row i of the result is row i of `second` where use_second[i], else row i of `first`.
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

namespace {
Tensor partner_rows(const Tensor& z, const Tensor& perm) {
  return index_select(z, 0, e::to(perm, z.device()));  // a no-op move when perm is there already
}
}  // namespace

GsgCrops four_view_crops(const Tensor& z1, const Tensor& z2, const Tensor& z3, const Tensor& z4,
                         const Tensor& perm) {
  SG_CHECK(perm.numel() == z1.shape()[0], "gsg: permutation of ", perm.numel(), " for a batch of ",
           z1.shape()[0]);
  return {z1, z2, partner_rows(z3, perm), partner_rows(z4, perm)};
}

GsgCrops two_view_crops(const Tensor& z1, const Tensor& z2, const Tensor& perm) {
  return four_view_crops(z1, z2, z1, z2, perm);
}

GsgChoice gsg_choose(const GsgCrops& c) {
  NoGradGuard no_grad;
  int64_t n = c.a1.shape()[0];
  // Squared distances of the four cross-image pairs (sqrt keeps the order), read back to the
  // host in one transfer as [n, 4].
  auto dist = [](const Tensor& x, const Tensor& y) {
    Tensor d = e::sub(x, y);
    return e::sum(e::mul(d, d), {1});
  };
  std::vector<double> d =
      e::stack({dist(c.a1, c.b1), dist(c.a1, c.b2), dist(c.a2, c.b1), dist(c.a2, c.b2)}, 1)
          .to_vector();
  GsgChoice choice;
  for (int64_t i = 0; i < n; ++i) {
    int best = 0;
    for (int k = 1; k < 4; ++k)
      if (d[size_t(i * 4 + k)] < d[size_t(i * 4 + best)]) best = k;
    choice.a.push_back(best / 2);
    choice.b.push_back(best % 2);
    ++choice.counts[best];
  }
  return choice;
}

Tensor byol_loss(const Tensor& z1, const Tensor& z2, const Tensor& t1, const Tensor& t2,
                 const Head& h) {
  return negative_cosine(h(z1), detach(t2)) * 0.5 + negative_cosine(h(z2), detach(t1)) * 0.5;
}

Tensor gsg_crops_loss(const GsgCrops& p, const GsgCrops& t, const GsgChoice& c, SslOptions o) {
  Tensor source_i = pick_rows(c.a, p.a1, p.a2), target_i = pick_rows(flipped(c.a), t.a1, t.a2);
  Tensor source_j = pick_rows(c.b, p.b1, p.b2), target_j = pick_rows(flipped(c.b), t.b1, t.b2);
  return negative_cosine(source_i, target(target_i, o)) * 0.5 +
         negative_cosine(source_j, target(target_j, o)) * 0.5;
}

double z_std(const Tensor& z) {
  NoGradGuard no_grad;
  Tensor n = l2_normalize(e::to(z, DType::Float32), 1);
  Tensor centered = n - mean(n, {0}, true);
  return mean(sqrt(mean(centered * centered, {0}))).item() * std::sqrt(double(z.shape()[1]));
}

}  // namespace sg
