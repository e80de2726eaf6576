#pragma once
// One seeded generator, reproducible across runs and platforms: xoshiro256** seeded through
// splitmix64, with our own uniform/normal transforms (std:: distributions differ between
// standard libraries). There is no global generator: callers own and pass one.
#include <cstdint>

#include "engine/tensor.h"

namespace sg {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0);
  uint64_t next_u64();
  double uniform();            // [0, 1), 53 random bits
  double normal();             // standard normal (Box-Muller)
  int64_t randint(int64_t n);  // uniform in [0, n), unbiased
  uint64_t seed() const { return seed_; }

 private:
  uint64_t seed_;
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0;
};

Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen,
               DType dtype = DType::Float32);
Tensor normal(const Shape& shape, double mean, double std, Generator& gen,
              DType dtype = DType::Float32);
Tensor randperm(int64_t n, Generator& gen);  // int64

// He initialisation for ReLU networks: N(0, 2 / fan), with fan_in = numel / shape[0] or
// fan_out = numel / shape[1] (torchvision's choice for ResNet convolutions).
enum class FanMode { In, Out };
Tensor kaiming_normal(const Shape& weight_shape, Generator& gen, DType dtype = DType::Float32,
                      FanMode mode = FanMode::In);
// PyTorch's default for Linear/Conv weights: U(-b, b), b = 1 / sqrt(fan_in).
Tensor kaiming_uniform(const Shape& weight_shape, Generator& gen, DType dtype = DType::Float32);

}  // namespace sg
