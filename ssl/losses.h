#pragma once
// The SimSiam and guided stop-gradient (GSG) objectives, written so the stop-gradients are
// visible: every target passes through sg(), which is detach() unless an ablation turns it off.
#include <array>
#include <functional>

#include "autograd/autograd.h"

namespace sg {

// D(p, z) = -mean_i cos(p_i, z_i).
Tensor negative_cosine(const Tensor& p, const Tensor& z);

using Head = std::function<Tensor(const Tensor&)>;  // the predictor h, or the identity

struct SslOptions {
  bool stop_grad = true;  // false: the --no-stop-grad ablation
};

// SimSiam: L = ½ D(h(z1), sg(z2)) + ½ D(h(z2), sg(z1)).
Tensor simsiam_loss(const Tensor& z1, const Tensor& z2, const Head& h, SslOptions o = {});

// The crops GSG compares, as rows aligned by image: image i's two crops (a1, a2) and its
// partner's two crops (b1, b2), row i of b1/b2 belonging to image i's partner perm[i].
struct GsgCrops {
  Tensor a1, a2, b1, b2;
};
// Four views (the official method): image i's crops 1-2 and its partner's crops 3-4.
GsgCrops four_view_crops(const Tensor& z1, const Tensor& z2, const Tensor& z3, const Tensor& z4,
                         const Tensor& perm);
// Two views (stopgrad's cheaper variant): the partner's crops are its own views 1-2, the pair it
// already forms as an anchor; half the encoder passes.
GsgCrops two_view_crops(const Tensor& z1, const Tensor& z2, const Tensor& perm);

// GSG's choice for each image i: among the four cross-image pairs (a_x of i, b_y of its partner),
// x, y in {1, 2}, the closest in Euclidean distance, on detached values.
struct GsgChoice {
  std::vector<int> a, b;            // per image: 0 = crop 1 (of the pair), 1 = crop 2
  std::array<int64_t, 4> counts{};  // how often (a, b) = (1,1), (1,2), (2,1), (2,2) was chosen
};
GsgChoice gsg_choose(const GsgCrops& c);

// GSG: the closest pair become the sources, the other crop of each image its target:
// L = ½ D(h(a_x), sg(a_x̄)) + ½ D(h(b_y), sg(b_ȳ)), averaged over the images. `predictions` are
// the predictor's outputs h(z) on each crop's whole batch, cropped like the projections; the
// loss picks the chosen rows of them. That is the paper's code (p11 = predictor(z11) over all N
// images, then a mask): a predictor with BatchNorm normalises a source with the statistics of
// its crop, not of the mix of crops that happened to be chosen. `targets` are z itself
// (SimSiam-GSG) or the EMA target network's projections of the same crops (BYOL-GSG). Only
// the chosen rows of the predictions receive gradient from the loss.
Tensor gsg_crops_loss(const GsgCrops& predictions, const GsgCrops& targets, const GsgChoice& choice,
                      SslOptions o = {});

// The two-view forms used by the tests and the demo: partner rows are views 1-2 of perm[i].
inline GsgChoice gsg_select(const Tensor& z1, const Tensor& z2, const Tensor& perm) {
  return gsg_choose(two_view_crops(z1, z2, perm));
}
inline Tensor gsg_loss(const Tensor& z1, const Tensor& z2, const Tensor& t1, const Tensor& t2,
                       const Tensor& perm, const GsgChoice& choice, const Head& h,
                       SslOptions o = {}) {
  return gsg_crops_loss(two_view_crops(h(z1), h(z2), perm), two_view_crops(t1, t2, perm), choice,
                        o);
}
inline Tensor gsg_loss(const Tensor& z1, const Tensor& z2, const Tensor& perm,
                       const GsgChoice& choice, const Head& h, SslOptions o = {}) {
  return gsg_loss(z1, z2, z1, z2, perm, choice, h, o);
}

// BYOL: L = ½ D(h(z1), sg(t2)) + ½ D(h(z2), sg(t1)) with t the target network's projections.
// (D is the negative cosine; BYOL's 2 - 2cos has the same gradient direction, twice as long.)
Tensor byol_loss(const Tensor& z1, const Tensor& z2, const Tensor& t1, const Tensor& t2,
                 const Head& h);

// Collapse metric: mean over channels of the batch std of z/||z||, times sqrt(d): about 1 when
// the outputs spread over the sphere, 0 when collapsed.
double z_std(const Tensor& z);

}  // namespace sg
