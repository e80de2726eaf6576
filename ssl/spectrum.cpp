#include "ssl/spectrum.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>

#include "engine/ops.h"

namespace sg {

Spectrum embedding_spectrum(const Tensor& z) {
  SG_CHECK(z.dim() == 2 && z.shape()[0] >= 2, "embedding_spectrum: expected [n >= 2, d], got ",
           shape_str(z.shape()));
  const int64_t n = z.shape()[0], d = z.shape()[1];
  std::vector<double> v = engine::to_strided(engine::to(z, Device::cpu())).to_vector();
  Eigen::MatrixXd x =
      Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(v.data(),
                                                                                         n, d);
  for (int64_t i = 0; i < n; ++i) {
    double norm = x.row(i).norm();
    if (norm > 0) x.row(i) /= norm;
  }
  x.rowwise() -= x.colwise().mean();
  // X^T X (d x d) and X X^T (n x n) share their non-zero eigenvalues: decompose the smaller
  // (512 evaluation rows of a 2048-d projection: 512^3 work, not 2048^3).
  Eigen::MatrixXd gram =
      n < d ? Eigen::MatrixXd(x * x.transpose()) : Eigen::MatrixXd(x.transpose() * x);
  gram /= double(n - 1);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(gram, Eigen::EigenvaluesOnly);
  SG_CHECK(solver.info() == Eigen::Success, "embedding_spectrum: the eigensolver did not converge");
  Spectrum s;
  s.eigenvalues.assign(size_t(d), 0.0);
  for (int64_t k = 0; k < gram.rows(); ++k)
    s.eigenvalues[size_t(k)] = std::max(0.0, solver.eigenvalues()(k));
  std::sort(s.eigenvalues.rbegin(), s.eigenvalues.rend());
  double total = 0;
  for (double& e : s.eigenvalues) total += e;
  double kept = 0;
  for (double& e : s.eigenvalues) {
    if (e < 1e-10 * std::max(total, 1e-300)) e = 0;
    if (e < 1e-12) e = 0;  // below any real variance of unit vectors: rounding
    kept += e;
  }
  double entropy = 0;
  for (double e : s.eigenvalues)
    if (e > 0) entropy -= (e / kept) * std::log(e / kept);
  s.effective_rank = kept > 0 ? std::exp(entropy) : 1.0;
  return s;
}

}  // namespace sg
