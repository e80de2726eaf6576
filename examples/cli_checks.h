#pragma once
// Command-line value checks for the programs in examples/ and bench/. CLI11's stock
// PositiveNumber refuses 0 with "Value 0 not in range 0.000000 to 1797693...", which names a
// range that contains 0; these say what was expected.
#include <CLI/CLI.hpp>
#include <cmath>
#include <string>

namespace sg::cli {

inline CLI::Validator number_check(bool (*accept)(double), const std::string& expected) {
  return CLI::Validator(
      [accept, expected](std::string& input) -> std::string {
        double v = 0;
        if (CLI::detail::lexical_cast(input, v) && std::isfinite(v) && accept(v)) return {};
        return "expected " + expected + ", got '" + input + "'";
      },
      expected);
}

inline const CLI::Validator positive = number_check([](double v) { return v > 0; }, "a number > 0");
inline const CLI::Validator non_negative =
    number_check([](double v) { return v >= 0; }, "a number >= 0");

}  // namespace sg::cli
