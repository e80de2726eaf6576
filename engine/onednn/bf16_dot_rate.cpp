// Compiled with AVX-512 BF16 enabled (engine/CMakeLists.txt) and called only after the CPU was
// found to support it, so like conv2d_winograd_bf16.cpp it uses no C++ library templates that
// the linker could share with code for other CPUs.
#include "engine/onednn/bf16_dot_rate.h"

#include <immintrin.h>
#include <time.h>

#include "engine/onednn/kernel_choice.h"

namespace sg::onednn {

namespace {

constexpr int kChains = 16;         // independent accumulators: more than latency x throughput
constexpr long kIterations = 4000;  // x 16 instructions: tens of microseconds per timing

double now_seconds() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// The accumulators' sum is returned so that the compiler keeps every instruction.
float sum_of(const __m512* acc) {
  __m512 s = acc[0];
  for (int j = 1; j < kChains; ++j) s = _mm512_add_ps(s, acc[j]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

// Seconds for kIterations x kChains applications of `step` to independent accumulators.
// (A template in an unnamed namespace: nothing here can be shared with code for other CPUs.)
template <class Step>
double time_chains(Step step, float* sink) {
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_ps(float(j));
  double start = now_seconds();
  for (long i = 0; i < kIterations; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = step(acc[j]);
  }
  double seconds = now_seconds() - start;
  *sink += sum_of(acc);
  return seconds;
}

double time_fma(float* sink) {
  const __m512 a = _mm512_set1_ps(0.5f), b = _mm512_set1_ps(0.25f);
  return time_chains([=](__m512 acc) { return _mm512_fmadd_ps(acc, a, b); }, sink);
}

double time_dot(float* sink) {
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f00);  // 0.5 in every bf16 lane
  const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3e80);  // 0.25
  return time_chains([=](__m512 acc) { return _mm512_dpbf16_ps(acc, a, b); }, sink);
}

}  // namespace

double bf16_dot_rate_vs_fp32_fma() {
  if (!avx512_bf16_usable()) return 0;
  // Alternating rounds, the fastest of each: a neighbour's burst or a frequency change hits
  // both sides, and the first rounds warm the 512-bit units up.
  float sums = 0;
  double fma = 1e30, dot = 1e30;
  for (int round = 0; round < 7; ++round) {
    double f = time_fma(&sums), d = time_dot(&sums);
    fma = f < fma ? f : fma;
    dot = d < dot ? d : dot;
  }
  volatile float keep = sums;  // the results are used, so no loop is optimised away
  (void)keep;
  // Per instruction: 16 lanes x 2 products for vdpbf16ps, 16 for vfmadd231ps.
  return (2.0 * fma) / dot;
}

}  // namespace sg::onednn
