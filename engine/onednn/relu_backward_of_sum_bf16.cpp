#include "engine/onednn/relu_backward_of_sum_bf16.h"

#include <immintrin.h>

#include "engine/onednn/bf16_vectors.h"
#include "engine/parallel.h"

namespace sg::onednn {

namespace {
// 16 elements (fewer at the end: only `lanes`).
void sixteen(const uint16_t* g1, const uint16_t* g2, const uint16_t* y, uint16_t* out,
             __mmask16 lanes) {
  __m512 sum = _mm512_add_ps(load_bf16(g1, lanes), load_bf16(g2, lanes));
  __mmask16 passed = _mm512_cmp_ps_mask(load_bf16(y, lanes), _mm512_setzero_ps(), _CMP_GT_OQ);
  store_bf16(out, _mm512_maskz_mov_ps(passed, sum), lanes);
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
