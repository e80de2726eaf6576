#pragma once
// Small helpers shared by the test suites.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sg::testing {

inline Tensor t64(const std::vector<double>& v, const Shape& shape) {
  return Tensor::from_vector(v, shape, DType::Float64);
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
