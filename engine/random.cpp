#include "engine/random.h"

#include <cmath>
#include <numbers>

namespace sg {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Generator::Generator(uint64_t seed) : seed_(seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
}

uint64_t Generator::next_u64() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
  double u2 = uniform();
  double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2 * std::numbers::pi * u2);
  has_spare_ = true;
  return r * std::cos(2 * std::numbers::pi * u2);
}

int64_t Generator::randint(int64_t n) {
  SG_CHECK(n > 0, "randint: n must be positive, got ", n);
  uint64_t un = uint64_t(n);
  uint64_t limit = UINT64_MAX - UINT64_MAX % un;  // reject the uneven tail
  uint64_t r;
  do r = next_u64();
  while (r >= limit);
  return int64_t(r % un);
}

namespace {
template <typename F>
Tensor fill_with(const Shape& shape, DType dtype, F draw) {
  Tensor t = Tensor::empty(shape, dtype);
  dispatch_floating(dtype, "random fill", [&]<typename T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(draw());
  });
  return t;
}

int64_t fan_in(const Shape& weight_shape) {
  SG_CHECK(weight_shape.size() >= 2, "fan_in: weight shape ", shape_str(weight_shape),
           " needs at least 2 dimensions");
  return numel(weight_shape) / weight_shape[0];
}
}  // namespace

Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen, DType dtype) {
  return fill_with(shape, dtype, [&] { return lo + (hi - lo) * gen.uniform(); });
}

Tensor normal(const Shape& shape, double mean, double std, Generator& gen, DType dtype) {
  return fill_with(shape, dtype, [&] { return mean + std * gen.normal(); });
}

Tensor randperm(int64_t n, Generator& gen) {
  Tensor t = Tensor::arange(n, DType::Int64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[gen.randint(i + 1)]);  // Fisher-Yates
  return t;
}

Tensor kaiming_normal(const Shape& weight_shape, Generator& gen, DType dtype, FanMode mode) {
  int64_t fan = mode == FanMode::In ? fan_in(weight_shape) : numel(weight_shape) / weight_shape[1];
  return normal(weight_shape, 0.0, std::sqrt(2.0 / double(fan)), gen, dtype);
}

Tensor kaiming_uniform(const Shape& weight_shape, Generator& gen, DType dtype) {
  double bound = 1.0 / std::sqrt(double(fan_in(weight_shape)));
  return uniform(weight_shape, -bound, bound, gen, dtype);
}

}  // namespace sg
