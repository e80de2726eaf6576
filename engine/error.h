#pragma once
// Errors: one exception type, and a check macro that builds its message only on failure.
#include <sstream>
#include <stdexcept>
#include <string>

namespace sg {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Args>
[[noreturn]] void fail(const char* where, const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  out << " [" << where << "]";
  throw Error(out.str());
}
}  // namespace detail

}  // namespace sg

// SG_CHECK(cond, parts...): throw sg::Error with the parts streamed together when cond is false.
#define SG_CHECK(cond, ...)                                 \
  do {                                                      \
    if (!(cond)) ::sg::detail::fail(__func__, __VA_ARGS__); \
  } while (0)
