// Each pass walks the tensor as runs of up to kBlockRows pixels (rows) in memory order, 16
// channels to a vector, so every load is contiguous: in NHWC a run is a block of whole rows,
// all channels; in nChw16c a piece of one 16-channel plane, or the small planes of several
// images (see Run). The per-channel sums are kept per thread (float32 over a run, then added
// into double), each thread taking a fixed range of runs, and combined in thread order, so
// results do not depend on timing.
#include "engine/onednn/batch_norm_bf16.h"

#include "engine/onednn/bf16_vectors.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace sg::batch_norm_bf16 {

using onednn::load_bf16;
using onednn::store_bf16;
using onednn::widen_bf16x16;

namespace {
constexpr int64_t kBlockRows = 256;

// `segments` runs of pixels, each `rows` rows of `vectors` channel vectors, contiguous:
// element (s, r, v) at offset + s * segment_stride + (r * vectors + v) * 16, its channels from
// c0 + 16 * v. In NHWC a run is one segment of up to kBlockRows rows, all channels; in nChw16c
// segments of one channel block's plane: a piece of up to kBlockRows pixels of one image, or
// where planes are smaller, the whole planes of as many images as fill kBlockRows (per-run
// work is then not dwarfed by the per-run sums; 512 channels at 4x4: 16 pixels a plane).
struct Run {
  int64_t offset, segments, segment_stride, rows, c0, vectors;
  int64_t at(int64_t s, int64_t r, int64_t v) const {
    return offset + s * segment_stride + (r * vectors + v) * 16;
  }
};

struct RunPlan {
  int64_t pieces = 1;  // nChw16c: runs per plane
  int64_t group = 1;   // nChw16c: images per run
  int64_t runs = 0;
};

RunPlan plan(const Layout& l) {
  RunPlan p;
  if (!l.blocked) {
    p.runs = (l.rows() + kBlockRows - 1) / kBlockRows;
    return p;
  }
  p.pieces = (l.pixels + kBlockRows - 1) / kBlockRows;
  p.group = p.pieces > 1 ? 1 : std::min(l.images, std::max<int64_t>(1, kBlockRows / l.pixels));
  p.runs = (l.images + p.group - 1) / p.group * (l.channels / 16) * p.pieces;
  return p;
}

Run run(const Layout& l, const RunPlan& p, int64_t i) {
  if (!l.blocked) {
    const int64_t first = i * kBlockRows;
    return {first * l.channels, 1, 0, std::min(kBlockRows, l.rows() - first), 0, l.channels / 16};
  }
  const int64_t blocks = l.channels / 16, plane_stride = l.pixels * 16;
  const int64_t piece = i % p.pieces, cb = i / p.pieces % blocks, group = i / p.pieces / blocks;
  const int64_t image = group * p.group, first = piece * kBlockRows;
  return {(image * blocks + cb) * plane_stride + first * 16,
          std::min(p.group, l.images - image),
          blocks * plane_stride,
          std::min(kBlockRows, l.pixels - first),
          cb * 16,
          1};
}

// The sums of a run's rows for V of its vectors from v0, in registers: V * U independent
// chains of adds (U rows at a time where there are few vectors: one vector's sums alone would
// wait on each add). (Kept in memory across the channel loop, as before 2026-12-07's
// seventeenth session, each row's sums waited on the store of the previous row's: the sums
// passes read at 28 GB/s where the passes that also write reached 37-40.)
template <int V, typename Accumulate>
void sum_rows(const Run& run, int64_t v0, int64_t C, const Accumulate& accumulate, double* sums) {
  constexpr int U = V >= 4 ? 1 : 4 / V;
  __m512 s1[U][V], s2[U][V];
  for (int u = 0; u < U; ++u)
    for (int v = 0; v < V; ++v) s1[u][v] = s2[u][v] = _mm512_setzero_ps();
  const int64_t c0 = run.c0 + 16 * v0;
  for (int64_t seg = 0; seg < run.segments; ++seg) {
    int64_t r = 0;
    for (; r + U <= run.rows; r += U)
      for (int u = 0; u < U; ++u)
        for (int v = 0; v < V; ++v)
          accumulate(run.at(seg, r + u, v0 + v), c0 + 16 * v, s1[u][v], s2[u][v]);
    for (; r < run.rows; ++r)
      for (int v = 0; v < V; ++v)
        accumulate(run.at(seg, r, v0 + v), c0 + 16 * v, s1[0][v], s2[0][v]);
  }
  alignas(64) float lanes[2 * 16];
  for (int v = 0; v < V; ++v) {
    for (int u = 1; u < U; ++u) {
      s1[0][v] = _mm512_add_ps(s1[0][v], s1[u][v]);
      s2[0][v] = _mm512_add_ps(s2[0][v], s2[u][v]);
    }
    _mm512_store_ps(lanes, s1[0][v]);
    _mm512_store_ps(lanes + 16, s2[0][v]);
    for (int64_t i = 0; i < 16; ++i) {
      sums[c0 + 16 * v + i] += lanes[i];
      sums[C + c0 + 16 * v + i] += lanes[16 + i];
    }
  }
}

// sum_rows for `vectors` (1 .. V) vectors.
template <int V, typename Accumulate>
void sum_rows_of_up_to(int64_t vectors, const Run& run, int64_t v0, int64_t C,
                       const Accumulate& accumulate, double* sums) {
  if constexpr (V > 1)
    if (vectors < V) return sum_rows_of_up_to<V - 1>(vectors, run, v0, C, accumulate, sums);
  sum_rows<V>(run, v0, C, accumulate, sums);
}

// Two per-channel sums over all rows: accumulate(offset, channel, s1, s2) adds the 16 channels
// from `channel` at element `offset` into the running vectors. Returns the sums, channel-major
// ([0, C) then [C, 2C)), in double.
template <typename Accumulate>
std::vector<double> two_channel_sums(const Layout& l, Accumulate accumulate) {
  const int64_t C = l.channels;
  const RunPlan p = plan(l);
  const int64_t runs = p.runs;
  int max_threads = omp_get_max_threads();
  std::vector<double> partial(size_t(max_threads) * 2 * C, 0.0);
  int used = 1;
#pragma omp parallel
  {
    int t = omp_get_thread_num(), threads = omp_get_num_threads();
#pragma omp single
    used = threads;
    double* mine = partial.data() + size_t(t) * 2 * C;
    for (int64_t i = runs * t / threads; i < runs * (t + 1) / threads; ++i) {
      const Run r = run(l, p, i);
      // Up to 8 vectors of channels at a time: 16 accumulators, half the registers.
      for (int64_t v0 = 0; v0 < r.vectors; v0 += 8)
        sum_rows_of_up_to<8>(std::min<int64_t>(r.vectors - v0, 8), r, v0, C, accumulate, mine);
    }
  }
  std::vector<double> sums(2 * C, 0.0);
  for (int t = 0; t < used; ++t)
    for (int64_t i = 0; i < 2 * C; ++i) sums[i] += partial[size_t(t) * 2 * C + i];
  return sums;
}

// f(run) for every run of the tensor, the runs split over the threads.
template <typename F>
void for_each_run(const Layout& l, const F& f) {
  const RunPlan p = plan(l);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < p.runs; ++i) f(run(l, p, i));
}

// f(at, c) for the run's vectors: `at` elements from the run's first, its channels from c.
// The callers' pointers are locals of theirs: through captured references every vector store
// (may_alias) made the compiler reload them.
template <typename F>
void for_each_vector(const Run& r, const F& f) {
  for (int64_t seg = 0; seg < r.segments; ++seg) {
    const int64_t base = seg * r.segment_stride;
    if (r.vectors == 1) {  // nChw16c: a plane's pixels
      for (int64_t j = 0; j < r.rows; ++j) f(base + 16 * j, r.c0);
      continue;
    }
    for (int64_t row = 0; row < r.rows; ++row)
      for (int64_t v = 0; v < r.vectors; ++v) f(base + (row * r.vectors + v) * 16, r.c0 + 16 * v);
  }
}
}  // namespace

bool applies(int64_t channels) { return channels > 0 && channels % 16 == 0; }

void forward_train(const uint16_t* x, const Layout& layout, const float* gamma, const float* beta,
                   double eps, const uint16_t* residual, uint16_t* y, uint16_t* relu_mask,
                   float* mean, float* var) {
  const int64_t C = layout.channels, rows = layout.rows();
  // One pass for both moments, each taken about the first pixel's value: the shift keeps
  // E[(x-k)^2] - E[x-k]^2 from cancelling catastrophically when |mean| >> std.
  std::vector<float> shift(C);
  for (int64_t c = 0; c < C; ++c) {
    const int64_t at = layout.blocked ? c / 16 * layout.pixels * 16 + c % 16 : c;
    uint32_t bits = uint32_t(x[at]) << 16;
    std::memcpy(&shift[c], &bits, 4);
  }
  std::vector<double> sums =
      two_channel_sums(layout, [&](int64_t at, int64_t c, __m512& s1, __m512& s2) {
        __m512 d = _mm512_sub_ps(load_bf16(x + at), _mm512_loadu_ps(&shift[c]));
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
  for_each_run(layout, [&](const Run& r) {
    const uint16_t* xr = x + r.offset;
    const uint16_t* rr = residual ? residual + r.offset : nullptr;
    uint16_t* yr = y + r.offset;
    uint16_t* mask = relu_mask ? relu_mask + r.offset / 16 : nullptr;
    const float *a = scale.data(), *b = offset.data();
    for_each_vector(r, [&](int64_t at, int64_t c) {
      __m512 out =
          _mm512_fmadd_ps(load_bf16(xr + at), _mm512_loadu_ps(a + c), _mm512_loadu_ps(b + c));
      if (rr) {  // bf16(bf16(bn) + r), as batch_norm then add_relu round it
        out = _mm512_add_ps(widen_bf16x16(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(out))),
                            load_bf16(rr + at));
        out = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(out, _mm512_setzero_ps(), _CMP_GT_OQ), out);
      }
      if (mask) {
        __mmask16 pass = _mm512_cmp_ps_mask(out, _mm512_setzero_ps(), _CMP_GT_OQ);
        mask[at / 16] = pass;
        out = _mm512_maskz_mov_ps(pass, out);
      }
      store_bf16(yr + at, out);
    });
  });
}

void backward(const uint16_t* x, const uint16_t* dy, const uint16_t* relu_mask,
              const Layout& layout, const float* gamma, const float* mean, const float* var,
              double eps, uint16_t* dx, float* dgamma, float* dbeta) {
  const int64_t C = layout.channels;
  auto grad_out = [&](int64_t at) {
    __m512 g = load_bf16(dy + at);
    return relu_mask ? _mm512_maskz_mov_ps(relu_mask[at / 16], g) : g;
  };
  // sum(dy) and sum(dy * (x - mean)) per channel.
  std::vector<double> sums =
      two_channel_sums(layout, [&](int64_t at, int64_t c, __m512& s1, __m512& s2) {
        __m512 g = grad_out(at);
        s1 = _mm512_add_ps(s1, g);
        s2 = _mm512_fmadd_ps(g, _mm512_sub_ps(load_bf16(x + at), _mm512_loadu_ps(mean + c)), s2);
      });
  // dx = a * (dy - sum_dy / M - (x - mean) * rstd^2 * sum_dyx / M), a = gamma * rstd,
  // evaluated as a * dy + k * x + e with per-channel k and e.
  std::vector<float> a(C), k(C), e(C);
  for (int64_t c = 0; c < C; ++c) {
    double rstd = 1.0 / std::sqrt(double(var[c]) + eps), n = double(layout.rows());
    double ac = (gamma ? gamma[c] : 1.0) * rstd;
    double kc = -ac * rstd * rstd * sums[C + c] / n;
    a[c] = float(ac);
    k[c] = float(kc);
    e[c] = float(-kc * mean[c] - ac * sums[c] / n);
    if (dgamma) dgamma[c] = float(sums[C + c] * rstd);
    if (dbeta) dbeta[c] = float(sums[c]);
  }
  for_each_run(layout, [&](const Run& r) {
    const uint16_t *xr = x + r.offset, *dyr = dy + r.offset;
    const uint16_t* mask = relu_mask ? relu_mask + r.offset / 16 : nullptr;
    uint16_t* dxr = dx + r.offset;
    const float *ar = a.data(), *kr = k.data(), *er = e.data();
    for_each_vector(r, [&](int64_t at, int64_t c) {
      __m512 g = load_bf16(dyr + at);
      if (mask) g = _mm512_maskz_mov_ps(mask[at / 16], g);
      __m512 xk =
          _mm512_fmadd_ps(load_bf16(xr + at), _mm512_loadu_ps(kr + c), _mm512_loadu_ps(er + c));
      store_bf16(dxr + at, _mm512_fmadd_ps(g, _mm512_loadu_ps(ar + c), xk));
    });
  });
}

}  // namespace sg::batch_norm_bf16
