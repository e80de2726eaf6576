#pragma once
// The embedding spectrum, the clearest picture of (dimensional) collapse (Jing et al.,
// "Understanding Dimensional Collapse in Contrastive Self-supervised Learning", ICLR 2022):
// the eigenvalues of the covariance of the l2-normalised rows of an [n, d] embedding, largest
// first, and its effective rank exp(H(p)), H the entropy of p_k = lambda_k / sum(lambda).
// Healthy embeddings spread their variance over many directions (effective rank near d when
// isotropic); collapsed ones over a few (1 when every row is the same direction).
#include <vector>

#include "engine/tensor.h"

namespace sg {

struct Spectrum {
  std::vector<double> eigenvalues;  // descending, >= 0
  double effective_rank = 1;
};

// Eigenvalues below 1e-10 of the total (unit-norm rows: at most 1) count as 0, the rounding
// left by centring identical rows; with nothing left, the rank is 1.
Spectrum embedding_spectrum(const Tensor& z);

}  // namespace sg
