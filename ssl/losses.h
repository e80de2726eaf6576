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

// GSG's choice for each image i paired with partner perm[i]: among the four cross-image pairs
// (z_a of i, z_b of perm[i]), a, b in {view 1, view 2}, the closest in Euclidean distance.
struct GsgChoice {
  std::vector<int> a, b;            // per image: 0 = view 1, 1 = view 2
  std::array<int64_t, 4> counts{};  // how often (a, b) = (1,1), (1,2), (2,1), (2,2) was chosen
};
GsgChoice gsg_select(const Tensor& z1, const Tensor& z2, const Tensor& perm);

// GSG: the closest pair become the sources (through h), the other view of each image its
// target: L = ½ D(h(z_a of i), sg(z_ā of i)) + ½ D(h(z_b of perm i), sg(z_b̄ of perm i)).
// Targets t default to z itself (SimSiam-GSG); BYOL-GSG passes the EMA target network's
// projections.
Tensor gsg_loss(const Tensor& z1, const Tensor& z2, const Tensor& t1, const Tensor& t2,
                const Tensor& perm, const GsgChoice& choice, const Head& h, SslOptions o = {});
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
