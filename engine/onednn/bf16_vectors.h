#pragma once
// 16 bf16 values to and from a vector of float32, for the files compiled for AVX-512 BF16
// (engine/CMakeLists.txt lists them; their callers check the CPU first). The masked forms
// with an all-ones mask compute the same as the plain ones; GCC 12 warns that the plain ones
// read an uninitialised register (their unused merge operand).
#include <immintrin.h>

#include <cstdint>

namespace sg::onednn {

inline __m512 widen_bf16x16(__m256i half) {
  return _mm512_castsi512_ps(
      _mm512_maskz_slli_epi32(0xffff, _mm512_maskz_cvtepu16_epi32(0xffff, half), 16));
}

inline __m512 load_bf16(const uint16_t* p) {
  return widen_bf16x16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Only the `lanes` set are read (the others read as 0): a buffer's last few elements.
inline __m512 load_bf16(const uint16_t* p, __mmask16 lanes) {
  return widen_bf16x16(_mm256_maskz_loadu_epi16(lanes, p));
}

// Rounded to nearest even.
inline void store_bf16(uint16_t* p, __m512 v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                      reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v)));
}

inline void store_bf16(uint16_t* p, __m512 v, __mmask16 lanes) {
  _mm256_mask_storeu_epi16(p, lanes, reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v)));
}

}  // namespace sg::onednn
