#include "engine/onednn/conv2d_backward_weight_gemm.h"

#include "engine/onednn/amx_matmul.h"
#include "engine/onednn/context.h"
#include "engine/onednn/im2col_nhwc.h"
#include "engine/ops.h"

#include <omp.h>
#include <algorithm>
#include <vector>

namespace sg::onednn {

using dnnl::memory;

namespace {

// Output area at or below which the product beats oneDNN's AMX convolution for 3x3 kernels.
// At 16x16 the convolution wins (ResNet-18 width 64, batch 64: 196 ms/step with the product
// there too, 187 without).
constexpr int64_t kMaxOutputPixels = 8 * 8;
// ... and at which the tile product in chunks does, for 3x3 kernels. Batch 64, 2 threads: at
// 16x16, 128x128x3x3 3.66 ms (oneDNN's convolution 4.2 standalone, 5.05 a call in the step),
// 128x64x3x3 stride 2 2.58 (4.98 in the step); at 32x32, 64x64x3x3 7.15 against 3.3.
constexpr int64_t kMaxTileOutputPixels = 16 * 16;

// Whether the product runs on AMX tiles (amx_matmul.h): kernels larger than 1x1 (for 1x1 ones
// the sum runs over many pixels for few outputs, the tile product streams both operands from
// memory, and oneDNN's matmul is faster: 0.27-0.73 ms against 0.33-1.58 for ResNet-18's
// shortcuts at batch 64) whose channels fit the tiles.
bool tiles_apply(const Shape& w_shape) {
  return w_shape[2] * w_shape[3] > 1 && amx::fits_conv_weight(w_shape);
}

// The panels of a chunk of pixels take at most this much (with the chunk's dY^T tiles and the
// thread's float32 sum they stay in the 2 MB L2 of the Xeon measured).
constexpr int64_t kChunkPanelBytes = 512 << 10;

// Pixels per chunk: the most whose panels fit kChunkPanelBytes, a multiple of 32.
int64_t chunk_pixels(int64_t row) {
  return std::max<int64_t>(32, kChunkPanelBytes / (row * int64_t(sizeof(uint16_t))) / 32 * 32);
}
// Below this many pixels a chunk's sum is too short for its float32 sum's loads and stores:
// the whole batch at once is faster then (512x512x3x3 at 4x4, chunks of 32: 10.4 ms against
// 3.9; 256x256x3x3 at 8x8, chunks of 96: 3.91 against 4.02).
constexpr int64_t kMinChunk = 128;

// The OIHW weight gradient from `count` float32 sums in OHWI order (rows k, columns (tap, c)),
// added up: each output channel's taps x channels turned into channels x taps, within L1.
void oihw_from_ohwi_sums(const float* sums, int64_t count, const Shape& w_shape, float* oihw) {
  const int64_t K = w_shape[0], C = w_shape[1], taps = w_shape[2] * w_shape[3], row = taps * C;
  const size_t sum_size = size_t(K) * size_t(row);
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < K; ++k)
    for (int64_t tap = 0; tap < taps; ++tap)
      for (int64_t c = 0; c < C; ++c) {
        float total = 0;
        for (int64_t u = 0; u < count; ++u)
          total += sums[size_t(u) * sum_size + size_t(k * row + tap * C + c)];
        oihw[(k * C + c) * taps + tap] = total;
      }
}

// dW = dY^T cols on AMX tiles for the whole batch at once: dY^T packed as row tiles, cols as
// column panels, both padded to a multiple of 32 pixels with zeros, the product written
// straight into OIHW (amx::matmul_oihw; 512x512x3x3 at 4x4, batch 64: 3.05-3.17 ms against
// 4.15-4.21 written as OHWI and turned into OIHW after).
Tensor weight_grad_tiles_whole(const Tensor& diff_dst, const Tensor& src, const Shape& x_shape,
                               const Shape& ys, const Shape& w_shape, Conv2dOptions o) {
  const int64_t K = w_shape[0], row = w_shape[1] * w_shape[2] * w_shape[3];
  const int64_t pixels = ys[0] * ys[2] * ys[3], padded_pixels = amx::padded(pixels);
  thread_local ScratchBuffer tiles_buffer;  // K x pixels bf16, a few MB; kept for the next call
  auto* tiles = reinterpret_cast<uint16_t*>(
      tiles_buffer.get(size_t(K) * size_t(padded_pixels) * sizeof(uint16_t)));
  transpose_nhwc_tiles(static_cast<const uint16_t*>(diff_dst.raw_data()), pixels, K, tiles);
  uint16_t* panels = im2col_scratch(size_t(padded_pixels) * size_t(row));
  im2col_nhwc_panels(static_cast<const uint16_t*>(src.raw_data()), x_shape, ys, w_shape[2],
                     w_shape[3], o, 0, pixels, panels);
  Tensor dw = Tensor::empty(w_shape, DType::Float32);
  amx::matmul_oihw(tiles, panels, K, padded_pixels, w_shape[1], w_shape[2] * w_shape[3],
                   dw.data<float>());
  return dw;
}

// dW = dY^T cols on AMX tiles (amx_matmul.h) in chunks of pixels: each thread packs a chunk's
// dY^T as row tiles and its cols as column panels, both padded to a multiple of 32 pixels
// with zeros, and adds their product to its own float32 sum, so that the packed operands stay
// in L2 (the whole batch's cols, 9x the input, would stream through memory). The sums are
// OHWI; they are added up and turned into OIHW at the end.
Tensor weight_grad_tiles(const Tensor& diff_dst, const Tensor& src, const Shape& x_shape,
                         const Shape& ys, const Shape& w_shape, Conv2dOptions o) {
  const int64_t K = w_shape[0], C = w_shape[1], taps = w_shape[2] * w_shape[3], row = taps * C;
  const int64_t pixels = ys[0] * ys[2] * ys[3];
  const int64_t chunk = chunk_pixels(row);
  const int64_t chunks = (pixels + chunk - 1) / chunk, threads = omp_get_max_threads();
  const size_t sum_size = size_t(K) * size_t(row), pack_size = size_t(chunk) * size_t(K + row);
  thread_local ScratchBuffer buffer;  // per thread: a sum and a chunk's operands; a few MB
  char* base = buffer.get(size_t(threads) * (sum_size * sizeof(float) + pack_size * 2) + 64);
  auto* sums = reinterpret_cast<float*>(base);
  auto* packs = reinterpret_cast<uint16_t*>(sums + size_t(threads) * sum_size);
  const auto* dy = static_cast<const uint16_t*>(diff_dst.raw_data());
  const auto* x = static_cast<const uint16_t*>(src.raw_data());
  Tensor dw = Tensor::empty(w_shape, DType::Float32);
#pragma omp parallel num_threads(int(threads))
  {
    const int64_t t = omp_get_thread_num();
    float* sum = sums + size_t(t) * sum_size;
    uint16_t* a = packs + size_t(t) * pack_size;  // 64-byte aligned: chunk is a multiple of 32
    uint16_t* b = a + size_t(chunk) * size_t(K);
    std::fill(sum, sum + sum_size, 0.0f);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < chunks; ++i) {
      const int64_t first = i * chunk, n = std::min(chunk, pixels - first);
      transpose_nhwc_tiles(dy + first * K, n, K, a);
      im2col_nhwc_panels(x, x_shape, ys, w_shape[2], w_shape[3], o, first, n, b);
      amx::matmul_add(a, b, K, amx::padded(n), row, sum, row);
    }
  }
  oihw_from_ohwi_sums(sums, threads, w_shape, dw.data<float>());
  return dw;
}

// The smallest output the grid's products take. Batch 64, 2 threads, against the im2col tile
// product (best of 5, ms): 128x128x3x3 at 16x16 2.8-3.0 against 3.9, 256x256x3x3 at 8x8
// 2.6-2.95 against 3.9-4.0, but 512x512x3x3 at 4x4 4.0-4.3 against 4.2-4.4: there the grid is
// 25 positions for 16 pixels, and the products grow by that much.
constexpr int64_t kMinWindowPixels = 8 * 8;
// The largest: 64x64x3x3 at 32x32, batch 64, 2 threads, a call in the step 2.80-2.87 ms
// against oneDNN's convolution's 3.5-3.8 (with the grid packed chunk by chunk below; packed
// whole first, 3.3-3.5).
constexpr int64_t kMaxWindowPixels = 32 * 32;
// Where the threads share out the positions, each packs this many values of dY's rows, with
// the pairs of x's panels they read, into its own buffers (270 + 280 KB at 128 channels), so
// that the operands stay in its L2 and never go through memory; fewer, and the margin() pairs
// each chunk packs again either side cost more (13% of x's pairs at 32x32 here). Its products
// then run over kGridProductValues at a time, whose rows of dY and panels of x (16 + 22 KB a
// block) stay in L1 through the R*S taps. A call in the step, 128x128x3x3 at 16x16 and
// 64x64x3x3 at 32x32 (ms): chunks of 1024 in products of 256, 2.42-2.47 and 2.80-2.87; of 2048
// in 256, 2.64 and 2.88-2.90; of 4096 in one product, 2.72 and 2.84-2.85; of 256, 2.48-2.59
// and 2.98-3.06; of 1024 in one product, 2.96-3.02.
// Where the threads share out the input channels, over the whole grid packed at once, the
// products run over kGridProductValues too: 256x256x3x3 at 8x8, 2.52-2.60 ms a call in the step
// against 2.80-2.90 over 2048 values (128: 2.98-3.04, 384: 2.70-2.74, 512: 3.21-3.23).
constexpr int64_t kGridPackValues = 1024;
constexpr int64_t kGridProductValues = 256;
// Threads share out the grid's positions, each with its own float32 sums added up at the end,
// when those sums take at most this much (they stay in L2 then); otherwise the input channels.
constexpr int64_t kMaxSumBytesPerThread = 1 << 20;

// Whether the weight gradient runs as shifted products on the pixel grid: a stride-1
// convolution whose square kernel keeps the image size, or a stride-2 3x3 one padded by 1 (x
// in four phases, each read with shifts of 0 or -1) or 1x1 one (x's phase 0, no shift), with
// channels that fit the tiles and an output of kMinWindowPixels to kMaxWindowPixels pixels.
// Stride 2, a call in the step against the im2col tile product: 64 -> 128 into 16x16
// 2.46-2.53 -> 1.80-1.82 ms, 128 -> 256 into 8x8 1.90-1.97 -> 1.83-1.91 (there threads share
// out the input channels; sharing out the positions, with 1.2 MB sums each, 1.89-1.91).
// Stride-2 1x1 shortcuts (one phase, one tap, a grid without padding) against im2col +
// oneDNN's matmul: 64 -> 128 into 16x16 0.93-0.94 -> 0.61-0.64 ms, 128 -> 256 into 8x8
// 0.59-0.62 -> 0.45.
bool windows_apply(const Shape& y_shape, const Shape& w_shape, Conv2dOptions o) {
  const int64_t area = y_shape[2] * y_shape[3], R = w_shape[2];
  const bool same = o.stride == 1 && R == 2 * o.padding + 1 && R > 1;
  const bool halving = o.stride == 2 && ((R == 3 && o.padding == 1) || (R == 1 && o.padding == 0));
  return (same || halving) && w_shape[3] == R && amx::fits_conv_weight(w_shape) &&
         area >= kMinWindowPixels && area <= kMaxWindowPixels;
}

// The operands of one shifted product on the paired grid: `count` values of dY's K rows from
// `rows` (row_stride apart) and x's C/16 panels read shifted from `panels` (pair row 0 of the
// values at panels + margin * 32, panel_stride apart).
amx::ShiftedPanelsProduct grid_product(const uint16_t* rows, int64_t row_stride,
                                       const uint16_t* panels, int64_t panel_stride,
                                       const PixelGrid& grid, const std::vector<int64_t>& shifts,
                                       int64_t K, int64_t count, int64_t C) {
  return {rows,
          row_stride,
          panels + grid.margin() * 32,
          panel_stride,
          shifts.data(),
          int64_t(shifts.size()),
          K,
          count,
          C};
}

// dW[k, c, r, s] = sum over grid positions q of dY_grid[q, k] x_grid[q + shift(r, s), c] (on
// the output's grid; with stride 2, x_grid is the phase of x that tap reads): one product per
// tap of dY's rows with x's panels read shifted (amx::shifted_panels_matmul_add), each of the
// R*S sums a float32 K x C matrix kept in 32x32 blocks, turned into OIHW at the end.
// x goes through memory once, not R*S times as its im2col matrix would. The grid's positions
// are paired across its halves (im2col_nhwc.h), so that the shifted tile loads of x stay on
// 64-byte boundaries: per call, batch 64, 2 threads, against x's grid rows read shifted by any
// number of positions (the layout before 2026-12-07's sixteenth session), 128x128x3x3 at 16x16
// 2.99-3.25 -> 2.74-2.82 ms, 256x256x3x3 at 8x8 3.04-3.25 -> 2.80-2.96.
Tensor weight_grad_windows(const Tensor& diff_dst, const Tensor& src, const Shape& x_shape,
                           const Shape& y_shape, const Shape& w_shape, Conv2dOptions o) {
  const int64_t K = w_shape[0], C = w_shape[1], R = w_shape[2], taps = R * R, st = o.stride;
  // The grid is the output's. Tap r reads x row st*h + r - pad: in phase (r - pad) mod st of x's
  // rows, shifted by floor((r - pad) / st) rows of the grid (the same for columns); with stride
  // 1 that is x itself shifted by r - pad.
  auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  const int64_t grid_pad = std::max(-floor_div(-o.padding, st), floor_div(R - 1 - o.padding, st));
  const PixelGrid grid{y_shape[0], y_shape[2], y_shape[3], grid_pad};
  const GridPixelIndex& index = cached_grid_pixel_index(grid, 1, 0, 0, grid.height, grid.width);
  // Each tap's phase of x (its place among the phases some tap reads) and shift on the grid.
  struct TapRead {
    int64_t phase, rows, cols;
  };
  std::vector<TapRead> reads;
  std::vector<std::pair<int64_t, int64_t>> read_phases;  // (row phase, column phase)
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < R; ++c) {
      const int64_t dr = floor_div(r - o.padding, st), dc = floor_div(c - o.padding, st);
      const std::pair<int64_t, int64_t> phase{r - o.padding - dr * st, c - o.padding - dc * st};
      auto at = std::find(read_phases.begin(), read_phases.end(), phase);
      if (at == read_phases.end()) at = read_phases.insert(at, phase);
      reads.push_back({at - read_phases.begin(), dr, dc});
    }
  // x's phases on the grid (with stride 1, x itself: dY's index).
  std::vector<const GridPixelIndex*> phases;
  for (const auto& [a, b] : read_phases)
    phases.push_back(&cached_grid_pixel_index(grid, st, a, b, x_shape[2], x_shape[3]));
  const auto* dy = static_cast<const uint16_t*>(diff_dst.raw_data());
  const auto* x = static_cast<const uint16_t*>(src.raw_data());
  const int64_t values = grid.padded_positions(), margin = grid.margin();
  // Each tap's shift in pair rows from pair 0 of the first phase, with the phases `phase_pairs`
  // pair rows apart in the panels.
  auto tap_shifts = [&](int64_t phase_pairs) {
    std::vector<int64_t> shifts;
    for (const TapRead& t : reads)
      shifts.push_back(t.phase * phase_pairs + t.rows * grid.row() + t.cols);
    return shifts;
  };

  const int64_t threads = omp_get_max_threads(), sum_size = taps * C * K;
  const int64_t col_blocks = C / 32, row_blocks = K / 32;
  const bool by_positions =
      sum_size * int64_t(sizeof(float)) <= kMaxSumBytesPerThread || col_blocks < threads;
  const int64_t sums_count = by_positions ? threads : 1;
  thread_local ScratchBuffer sums_buffer;  // 32x32 blocks: taps x K x C floats (per thread)
  auto* sums = reinterpret_cast<float*>(
      sums_buffer.get(size_t(sums_count) * size_t(sum_size) * sizeof(float)));
  Tensor dw = Tensor::empty(w_shape, DType::Float32);
  float* out = dw.data<float>();
  // Block (i, j) of every tap into dW: output channels 32i.., input channels 32j.., the sums of
  // `count` threads' blocks added up.
  auto write_block = [&](int64_t i, int64_t j, const float* first_sums, int64_t count) {
    amx::oihw_runs_from_tap_blocks(first_sums + (i * col_blocks + j) * taps * 1024, count, sum_size,
                                   taps, /*row_step=*/32, /*col_step=*/1,
                                   out + (32 * i * C + 32 * j) * taps, C * taps);
  };

  if (by_positions) {
    // Each thread its share of the positions (runs of 32 values, 16 pairs), chunk by chunk:
    // chunk values of dY's rows (an odd number of 64-byte lines apart) and the chunk's pairs of
    // x's panels with margin() pairs either side for the shifts.
    const int64_t chunk = kGridPackValues;
    const int64_t row_stride = ((chunk / 32) | 1) * 32;
    const int64_t chunk_pairs = (chunk / 2 + 2 * margin + 15) / 16 * 16;
    const int64_t panel_stride = int64_t(phases.size()) * chunk_pairs * 32;
    const std::vector<int64_t> shifts = tap_shifts(chunk_pairs);
    const size_t pack_size = size_t(K * row_stride + C / 16 * panel_stride);
    thread_local ScratchBuffer packs_buffer;  // per thread: a chunk's operands, about 0.5 MB
    auto* packs = reinterpret_cast<uint16_t*>(
        packs_buffer.get(size_t(threads) * pack_size * sizeof(uint16_t)));
#pragma omp parallel num_threads(int(threads))
    {
      const int64_t t = omp_get_thread_num(), team = omp_get_num_threads();
      float* my_sums = sums + t * sum_size;
      uint16_t* rows = packs + size_t(t) * pack_size;  // 64-byte aligned: pack_size is
      uint16_t* panels = rows + K * row_stride;        // a multiple of 32 elements
      const int64_t steps = values / 32;
      const int64_t first = steps * t / team * 32, last = steps * (t + 1) / team * 32;
      if (first == last) std::fill(my_sums, my_sums + sum_size, 0.0f);
      for (int64_t v = first; v < last; v += chunk) {
        const int64_t count = std::min(chunk, last - v);
        grid_paired_rows(dy, K, index, v, count, rows, row_stride);
        for (size_t f = 0; f < phases.size(); ++f)
          grid_paired_panels(x, C, *phases[f], v / 2 - margin,
                             (count / 2 + 2 * margin + 15) / 16 * 16,
                             panels + int64_t(f) * chunk_pairs * 32, panel_stride);
        for (int64_t u = 0; u < count; u += kGridProductValues)
          amx::shifted_panels_matmul_add(
              grid_product(rows + u, row_stride, panels + u / 2 * 32, panel_stride, grid, shifts, K,
                           std::min(kGridProductValues, count - u), C),
              0, col_blocks, /*accumulate=*/v > first || u > 0, my_sums);
      }
#pragma omp barrier
#pragma omp for schedule(static)
      for (int64_t b = 0; b < row_blocks * col_blocks; ++b)
        write_block(b / col_blocks, b % col_blocks, sums, team);
    }
    return dw;
  }

  // Each thread its share of the input channels, over the whole grid packed first (dY's rows
  // are read by every thread).
  const int64_t row_stride = grid.paired_row_stride(), phase_pairs = grid.paired_panel_rows();
  const int64_t panel_stride = int64_t(phases.size()) * phase_pairs * 32;
  const std::vector<int64_t> shifts = tap_shifts(phase_pairs);
  thread_local ScratchBuffer rows_buffer;  // K rows of dY, about its size
  auto* rows = reinterpret_cast<uint16_t*>(
      rows_buffer.get(size_t(K) * size_t(row_stride) * sizeof(uint16_t)));
  uint16_t* panels = im2col_scratch(size_t(C / 16) * size_t(panel_stride));
#pragma omp parallel num_threads(int(threads))
  {
    const int64_t t = omp_get_thread_num(), team = omp_get_num_threads();
#pragma omp for schedule(static) nowait
    for (int64_t v = 0; v < values; v += 256)
      grid_paired_rows(dy, K, index, v, std::min<int64_t>(256, values - v), rows + v, row_stride);
#pragma omp for schedule(static) collapse(2)
    for (size_t f = 0; f < phases.size(); ++f)
      for (int64_t q = -margin; q < phase_pairs - margin; q += 16)
        grid_paired_panels(x, C, *phases[f], q, 16,
                           panels + (int64_t(f) * phase_pairs + q + margin) * 32, panel_stride);
    const int64_t j0 = col_blocks * t / team, j1 = col_blocks * (t + 1) / team;
    for (int64_t v = 0; v < values; v += kGridProductValues)
      amx::shifted_panels_matmul_add(
          grid_product(rows + v, row_stride, panels + v / 2 * 32, panel_stride, grid, shifts, K,
                       std::min(kGridProductValues, values - v), C),
          j0, j1, /*accumulate=*/v > 0, sums);
    for (int64_t j = j0; j < j1; ++j)
      for (int64_t i = 0; i < row_blocks; ++i) write_block(i, j, sums, 1);
  }
  return dw;
}

}  // namespace

bool conv2d_backward_weight_gemm_applies(const Shape& y_shape, const Shape& w_shape,
                                         Conv2dOptions o) {
  const int64_t area = y_shape[2] * y_shape[3];
  return (w_shape[2] == 1 && w_shape[3] == 1) || area <= kMaxOutputPixels ||
         (area <= kMaxTileOutputPixels && tiles_apply(w_shape)) ||
         windows_apply(y_shape, w_shape, o);
}

Tensor conv2d_backward_weight_gemm(const Tensor& grad_y, const Tensor& x, const Shape& w_shape,
                                   Conv2dOptions o) {
  const Shape& ys = grad_y.shape();
  const int64_t K = w_shape[0], pixels = ys[0] * ys[2] * ys[3];
  const int64_t row = w_shape[1] * w_shape[2] * w_shape[3];
  const auto bf16 = memory::data_type::bf16, f32 = memory::data_type::f32;
  Tensor src = in_layout(x, nhwc_bf16(x.shape()));
  Tensor diff_dst = in_layout(grad_y, nhwc_bf16(ys));

  if (windows_apply(ys, w_shape, o))
    return weight_grad_windows(diff_dst, src, x.shape(), ys, w_shape, o);
  if (tiles_apply(w_shape))
    return chunk_pixels(row) >= kMinChunk
               ? weight_grad_tiles(diff_dst, src, x.shape(), ys, w_shape, o)
               : weight_grad_tiles_whole(diff_dst, src, x.shape(), ys, w_shape, o);

  uint16_t* cols = im2col_scratch(size_t(pixels) * size_t(row));
  im2col_nhwc(static_cast<const uint16_t*>(src.raw_data()), x.shape(), ys, w_shape[2], w_shape[3],
              o, /*reversed_taps=*/false, cols);

  // dY^T as the left operand: NHWC dY is [P, K] row-major, so [K, P] with strides {1, K}.
  // (Channel-major copies of dY and x, with P contiguous in both operands, make the matmul
  // itself up to 1.4x faster, but their im2col copies short runs: 214 ms/step against 187.)
  memory::desc a({K, pixels}, bf16, memory::dims{1, K});
  memory::desc b({pixels, row}, bf16, memory::dims{row, 1});
  // The product's rows are (r, s, c) runs per output channel: the weight in ohwi.
  memory::desc c({K, row}, f32, memory::dims{row, 1});
  memory::desc ohwi(dims(w_shape), f32, memory::format_tag::ohwi);
  Tensor dw = empty_like_desc(ohwi, w_shape, DType::Float32);
  run_matmul(a, diff_dst.raw_data(), b, cols, c, dw.raw_data());
  return engine::to_strided(dw);
}

}  // namespace sg::onednn
