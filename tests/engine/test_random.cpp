#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "engine/random.h"
#include "tests/helpers.h"

using namespace sg;

TEST_CASE("random.same_seed_same_stream") {
  Generator a(7), b(7), c(8);
  for (int i = 0; i < 100; ++i) {
    uint64_t va = a.next_u64();
    CHECK(va == b.next_u64());
    if (i == 0) CHECK(va != c.next_u64());
  }
}

TEST_CASE("random.pinned_values_across_platforms") {
  // xoshiro256** over splitmix64(0): fixed integers, so any platform must produce these.
  Generator g(0);
  CHECK(g.next_u64() == 0x99ec5f36cb75f2b4ULL);
  CHECK(g.next_u64() == 0xbf6e1f784956452aULL);
}

TEST_CASE("random.distributions") {
  Generator g(1);
  Tensor u = uniform({20000}, -1, 1, g, DType::Float64);
  auto v = u.to_vector();
  double mean = 0, sq = 0;
  for (double x : v) {
    CHECK((x >= -1 && x < 1));
    mean += x;
  }
  mean /= v.size();
  CHECK(std::abs(mean) < 0.02);
  Tensor n = normal({20000}, 2.0, 3.0, g, DType::Float64);
  v = n.to_vector();
  mean = 0;
  for (double x : v) mean += x;
  mean /= v.size();
  for (double x : v) sq += (x - mean) * (x - mean);
  CHECK(std::abs(mean - 2.0) < 0.1);
  CHECK(std::abs(std::sqrt(sq / v.size()) - 3.0) < 0.1);
}

TEST_CASE("random.randperm_is_a_permutation") {
  Generator g(3);
  auto p = randperm(100, g).to_vector();
  std::vector<double> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 100; ++i) CHECK(sorted[i] == i);
  CHECK(p != sorted);  // 1/100! chance of a false failure
}

TEST_CASE("random.kaiming_scales_with_fan_in") {
  Generator g(4);
  Tensor w = kaiming_normal({64, 32, 3, 3}, g, DType::Float64);  // fan_in 288
  double sq = 0;
  for (double x : w.to_vector()) sq += x * x;
  CHECK(std::abs(std::sqrt(sq / w.numel()) - std::sqrt(2.0 / 288)) < 0.003);
  Tensor b = kaiming_uniform({10, 100}, g, DType::Float64);
  for (double x : b.to_vector()) CHECK(std::abs(x) <= 0.1);
}
