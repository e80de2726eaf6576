#pragma once
// Small helpers shared by the test suites.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/ops.h"
#include "engine/tensor.h"

namespace sg::testing {

inline Tensor t64(const std::vector<double>& v, const Shape& shape) {
  return Tensor::from_vector(v, shape, DType::Float64);
}

// A permutation (or any index vector) as an int64 tensor.
inline Tensor perm_of(const std::vector<double>& p) {
  return Tensor::from_vector(p, {int64_t(p.size())}, DType::Int64);
}

// The rows of a [n, d] leaf that received a non-zero gradient (none: no gradient at all).
inline std::set<int64_t> rows_with_gradient(const Tensor& leaf) {
  std::set<int64_t> rows;
  Tensor g = leaf.grad();
  if (!g.defined()) return rows;
  for (int64_t i = 0; i < g.shape()[0]; ++i)
    for (int64_t j = 0; j < g.shape()[1]; ++j)
      if (g.at({i, j}) != 0) rows.insert(i);
  return rows;
}

// Largest |a - b| over all elements; shapes must agree.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto va = a.to_vector(), vb = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

inline void check_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-9) {
  auto v = t.to_vector();
  REQUIRE(v.size() == expected.size());
  for (size_t i = 0; i < v.size(); ++i)
    CHECK_MESSAGE(std::abs(v[i] - expected[i]) <= tol, "element ", i, ": ", v[i], " vs ",
                  expected[i]);
}

// Fast kernel output against the reference's: the largest difference must be within rtol of
// the reference's largest magnitude (either may live on any device).
inline void expect_close(const Tensor& fast_out, const Tensor& ref_out, double rtol = 1e-5,
                         const char* what = "") {
  Tensor a = engine::to_strided(engine::to(fast_out, Device::cpu()));
  Tensor b = engine::to_strided(engine::to(ref_out, Device::cpu()));
  REQUIRE(a.shape() == b.shape());
  auto va = a.to_vector(), vb = b.to_vector();
  double scale = 1e-12, worst = 0;
  size_t at = 0;
  for (double v : vb) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < va.size(); ++i) {
    REQUIRE_MESSAGE(!std::isnan(va[i]), what, ": NaN at ", i);
    if (std::abs(va[i] - vb[i]) > worst) worst = std::abs(va[i] - vb[i]), at = i;
  }
  CHECK_MESSAGE(worst <= rtol * scale, what, ": worst difference ", worst, " at element ", at, " (",
                va[at], " vs ", vb[at], "), scale ", scale);
}

// GPU tests call this first: without a CUDA device the test exits 77, which CTest reports as
// Skipped, with the reason in its output.
inline void skip_without_gpu() {
  if (cuda_device_count() == 0) {
    std::printf("SKIPPED: no CUDA device on this machine (run `ctest -L gpu` where one exists)\n");
    std::exit(77);
  }
}

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir()
      : path(std::filesystem::temp_directory_path() /
             ("stopgrad_test_" + std::to_string(::getpid()) + "_" + std::to_string(std::rand()))) {
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace sg::testing
