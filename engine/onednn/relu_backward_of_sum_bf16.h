#pragma once
// relu_backward_of_sum on bf16 buffers of one layout, in one pass: out = y > 0 ? g1 + g2 : 0,
// the sum in float32 rounded to nearest even once (the bits of oneDNN's bf16 binary add followed
// by its ReLU backward). Compiled for AVX-512 BF16; callers check avx512_bf16_usable().
#include <cstdint>

namespace sg::onednn {

void relu_backward_of_sum_bf16(const uint16_t* g1, const uint16_t* g2, const uint16_t* y,
                               uint16_t* out, int64_t n);

}  // namespace sg::onednn
