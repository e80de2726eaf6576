#pragma once
// The stopgrad version this binary was built from: `git describe --always --dirty --tags` of the
// source tree at build time (a run's config.json records it).
#include <string_view>

namespace sg {
std::string_view stopgrad_version();
}  // namespace sg
