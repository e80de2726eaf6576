#include "engine/onednn/relu_backward_of_sum_bf16.h"

#include <immintrin.h>

#include "engine/onednn/bf16_vectors.h"
#include "engine/parallel.h"

namespace sg::onednn {

namespace {
// 16 elements from i (fewer at the end: `lanes` set), as the whole vectors compute them.
void sixteen(const uint16_t* g1, const uint16_t* g2, const uint16_t* y, uint16_t* out,
             __mmask16 lanes) {
  auto load = [lanes](const uint16_t* p) {  // the masked forms: as in bf16_vectors.h
    __m512i wide = _mm512_maskz_cvtepu16_epi32(0xffff, _mm256_maskz_loadu_epi16(lanes, p));
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xffff, wide, 16));
  };
  __m512 sum = _mm512_add_ps(load(g1), load(g2));
  __mmask16 passed = _mm512_cmp_ps_mask(load(y), _mm512_setzero_ps(), _CMP_GT_OQ);
  __m256i rounded = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_maskz_mov_ps(passed, sum)));
  _mm256_mask_storeu_epi16(out, lanes, rounded);
}
}  // namespace

void relu_backward_of_sum_bf16(const uint16_t* g1, const uint16_t* g2, const uint16_t* y,
                               uint16_t* out, int64_t n) {
  parallel_for(n, [&](int64_t begin, int64_t end) {
    int64_t i = begin;
    for (; i + 16 <= end; i += 16) sixteen(g1 + i, g2 + i, y + i, out + i, 0xffff);
    if (i < end) sixteen(g1 + i, g2 + i, y + i, out + i, __mmask16((1u << (end - i)) - 1));
  });
}

}  // namespace sg::onednn
