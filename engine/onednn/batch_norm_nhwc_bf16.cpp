// Each pass walks the rows in order, 16 channels to a vector, so every load is contiguous; the
// per-channel sums are kept per thread (float32 over blocks of kBlockRows rows, then added into
// double) and combined in thread order, so results do not depend on timing.
#include "engine/onednn/batch_norm_nhwc_bf16.h"

#include "engine/onednn/bf16_vectors.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace sg::batch_norm_nhwc_bf16 {

using onednn::load_bf16;
using onednn::store_bf16;
using onednn::widen_bf16x16;

namespace {
constexpr int64_t kBlockRows = 256;

// The sums of rows r0 .. r1 - 1 for the V vectors of channels from c0, in registers: each
// vector's running sums are one add (or FMA) deep per row, with V * 2 independent chains. (Kept
// in memory across the channel loop, as before 2026-12-07's seventeenth session, each row's
// sums waited on the store of the previous row's: the sums passes read at 28 GB/s where the
// passes that also write reached 37-40.)
template <int V, typename Accumulate>
void sum_rows(int64_t r0, int64_t r1, int64_t c0, int64_t C, const Accumulate& accumulate,
              double* sums) {
  __m512 s1[V], s2[V];
  for (int v = 0; v < V; ++v) s1[v] = s2[v] = _mm512_setzero_ps();
  for (int64_t r = r0; r < r1; ++r)
    for (int v = 0; v < V; ++v) accumulate(r, c0 + 16 * v, s1[v], s2[v]);
  alignas(64) float lanes[2 * 16];
  for (int v = 0; v < V; ++v) {
    _mm512_store_ps(lanes, s1[v]);
    _mm512_store_ps(lanes + 16, s2[v]);
    for (int64_t i = 0; i < 16; ++i) {
      sums[c0 + 16 * v + i] += lanes[i];
      sums[C + c0 + 16 * v + i] += lanes[16 + i];
    }
  }
}

// sum_rows for `vectors` (1 .. V) vectors of channels.
template <int V, typename Accumulate>
void sum_rows_of_up_to(int64_t vectors, int64_t r0, int64_t r1, int64_t c0, int64_t C,
                       const Accumulate& accumulate, double* sums) {
  if constexpr (V > 1)
    if (vectors < V) return sum_rows_of_up_to<V - 1>(vectors, r0, r1, c0, C, accumulate, sums);
  sum_rows<V>(r0, r1, c0, C, accumulate, sums);
}

// Two per-channel sums over all rows: accumulate(row, channel, s1, s2) adds one row's 16
// channels from `channel` into the running vectors. Returns the sums, channel-major
// ([0, C) then [C, 2C)), in double.
template <typename Accumulate>
std::vector<double> two_channel_sums(int64_t rows, int64_t channels, Accumulate accumulate) {
  const int64_t C = channels;
  int max_threads = omp_get_max_threads();
  std::vector<double> partial(size_t(max_threads) * 2 * C, 0.0);
  int used = 1;
#pragma omp parallel
  {
    int t = omp_get_thread_num(), threads = omp_get_num_threads();
#pragma omp single
    used = threads;
    int64_t begin = rows * t / threads, end = rows * (t + 1) / threads;
    double* mine = partial.data() + size_t(t) * 2 * C;
    for (int64_t r0 = begin; r0 < end; r0 += kBlockRows) {
      const int64_t r1 = std::min(end, r0 + kBlockRows);
      // Up to 8 vectors of channels at a time: 16 accumulators, half the registers.
      for (int64_t c0 = 0; c0 < C; c0 += 128)
        sum_rows_of_up_to<8>(std::min<int64_t>(C - c0, 128) / 16, r0, r1, c0, C, accumulate, mine);
    }
  }
  std::vector<double> sums(2 * C, 0.0);
  for (int t = 0; t < used; ++t)
    for (int64_t i = 0; i < 2 * C; ++i) sums[i] += partial[size_t(t) * 2 * C + i];
  return sums;
}
}  // namespace

bool applies(int64_t channels) { return channels > 0 && channels % 16 == 0; }

void forward_train(const uint16_t* x, int64_t rows, int64_t channels, const float* gamma,
                   const float* beta, double eps, const uint16_t* residual, uint16_t* y,
                   uint16_t* relu_mask, float* mean, float* var) {
  const int64_t C = channels;
  // One pass for both moments, each taken about the first row's value: the shift keeps
  // E[(x-k)^2] - E[x-k]^2 from cancelling catastrophically when |mean| >> std.
  std::vector<float> shift(C);
  for (int64_t c = 0; c < C; ++c) {
    uint32_t bits = uint32_t(x[c]) << 16;
    std::memcpy(&shift[c], &bits, 4);
  }
  std::vector<double> sums =
      two_channel_sums(rows, C, [&](int64_t r, int64_t c, __m512& s1, __m512& s2) {
        __m512 d = _mm512_sub_ps(load_bf16(x + r * C + c), _mm512_loadu_ps(&shift[c]));
        s1 = _mm512_add_ps(s1, d);
        s2 = _mm512_fmadd_ps(d, d, s2);
      });
  std::vector<float> scale(C), offset(C);
  for (int64_t c = 0; c < C; ++c) {
    double m1 = sums[c] / double(rows);
    double v = std::max(0.0, sums[C + c] / double(rows) - m1 * m1);
    mean[c] = float(shift[c] + m1);
    var[c] = float(v);
    double a = (gamma ? gamma[c] : 1.0) / std::sqrt(v + eps);
    scale[c] = float(a);
    offset[c] = float((beta ? beta[c] : 0.0) - (shift[c] + m1) * a);
  }
  const int64_t vectors = C / 16;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < vectors; ++v) {
      int64_t c = v * 16;
      __m512 out = _mm512_fmadd_ps(load_bf16(x + r * C + c), _mm512_loadu_ps(&scale[c]),
                                   _mm512_loadu_ps(&offset[c]));
      if (residual) {  // bf16(bf16(bn) + r), as batch_norm then add_relu round it
        out = _mm512_add_ps(widen_bf16x16(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(out))),
                            load_bf16(residual + r * C + c));
        out = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(out, _mm512_setzero_ps(), _CMP_GT_OQ), out);
      }
      if (relu_mask) {
        __mmask16 pass = _mm512_cmp_ps_mask(out, _mm512_setzero_ps(), _CMP_GT_OQ);
        relu_mask[r * vectors + v] = pass;
        out = _mm512_maskz_mov_ps(pass, out);
      }
      store_bf16(y + r * C + c, out);
    }
}

void backward(const uint16_t* x, const uint16_t* dy, const uint16_t* relu_mask, int64_t rows,
              int64_t channels, const float* gamma, const float* mean, const float* var, double eps,
              uint16_t* dx, float* dgamma, float* dbeta) {
  const int64_t C = channels, vectors = C / 16;
  auto grad_out = [&](int64_t r, int64_t c) {
    __m512 g = load_bf16(dy + r * C + c);
    return relu_mask ? _mm512_maskz_mov_ps(relu_mask[r * vectors + c / 16], g) : g;
  };
  // sum(dy) and sum(dy * (x - mean)) per channel.
  std::vector<double> sums =
      two_channel_sums(rows, C, [&](int64_t r, int64_t c, __m512& s1, __m512& s2) {
        __m512 g = grad_out(r, c);
        s1 = _mm512_add_ps(s1, g);
        s2 = _mm512_fmadd_ps(g, _mm512_sub_ps(load_bf16(x + r * C + c), _mm512_loadu_ps(mean + c)),
                             s2);
      });
  // dx = a * (dy - sum_dy / M - (x - mean) * rstd^2 * sum_dyx / M), a = gamma * rstd,
  // evaluated as a * dy + k * x + e with per-channel k and e.
  std::vector<float> a(C), k(C), e(C);
  for (int64_t c = 0; c < C; ++c) {
    double rstd = 1.0 / std::sqrt(double(var[c]) + eps), n = double(rows);
    double ac = (gamma ? gamma[c] : 1.0) * rstd;
    double kc = -ac * rstd * rstd * sums[C + c] / n;
    a[c] = float(ac);
    k[c] = float(kc);
    e[c] = float(-kc * mean[c] - ac * sums[c] / n);
    if (dgamma) dgamma[c] = float(sums[C + c] * rstd);
    if (dbeta) dbeta[c] = float(sums[c]);
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; c += 16) {
      __m512 xk =
          _mm512_fmadd_ps(load_bf16(x + r * C + c), _mm512_loadu_ps(&k[c]), _mm512_loadu_ps(&e[c]));
      store_bf16(dx + r * C + c, _mm512_fmadd_ps(grad_out(r, c), _mm512_loadu_ps(&a[c]), xk));
    }
}

}  // namespace sg::batch_norm_nhwc_bf16
