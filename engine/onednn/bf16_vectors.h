#pragma once
// 16 bf16 values to and from a vector of float32, and a 16 x 16 transpose, for the files
// compiled for AVX-512 BF16 (engine/CMakeLists.txt lists them; their callers check the CPU
// first). The masked forms
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

// The 16 x 16 float32 matrix whose rows are r[0..15], transposed in place (unpacks, then
// 128-bit shuffles). GCC 12 warns, falsely, where this is inlined (see its callers).
inline void transpose_16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {  // rows paired: (a0 b0 a1 b1) per 128-bit lane
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // four rows: r[i + j] holds column 4L + j in lane L
    __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
    __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int j = 0; j < 4; ++j) {  // 128-bit lanes: rows 0-7, then 8-15
    t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
    t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
    t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xdd);
  }
}

}  // namespace sg::onednn
