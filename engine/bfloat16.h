#pragma once
// bfloat16 as stored: the top 16 bits of a float32. Only copies and fills touch it directly;
// arithmetic happens in float32 (or in oneDNN's bf16 kernels).
#include <cstdint>
#include <cstring>

namespace sg {

struct bfloat16 {
  uint16_t bits = 0;
  bfloat16() = default;
  // Round to nearest even, as oneDNN's conversions do.
  explicit bfloat16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) {
      bits = uint16_t((u >> 16) | 0x40);  // keep NaN a NaN
      return;
    }
    u += 0x7fff + ((u >> 16) & 1);
    bits = uint16_t(u >> 16);
  }
  explicit bfloat16(double d) : bfloat16(float(d)) {}
  explicit bfloat16(int64_t i) : bfloat16(float(i)) {}
  explicit operator float() const {
    uint32_t u = uint32_t(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  explicit operator double() const { return double(float(*this)); }
  explicit operator int64_t() const { return int64_t(float(*this)); }
};

}  // namespace sg
