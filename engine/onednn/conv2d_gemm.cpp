#include "engine/onednn/conv2d_gemm.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <vector>

#include "engine/onednn/amx_matmul.h"
#include "engine/onednn/context.h"
#include "engine/onednn/im2col_nhwc.h"
#include "engine/ops.h"

namespace sg::onednn {

using dnnl::memory;

namespace {

// Where the product wins (see the header): outputs up to 4x4 pixels, 512 channels or more.
constexpr int64_t kMaxOutputPixels = 4 * 4;
constexpr int64_t kMinChannels = 512;
// ... and where backward data on the pixel grid does: stride 1 at 8x8 outputs, stride 2 at
// 4x4 outputs and up; dy's grid has one zero row and column (a 3x3 kernel's reach).
constexpr int64_t kSameSizeGridPixels = 8 * 8;
constexpr int64_t kMinHalvingGridPixels = 4 * 4;
constexpr int64_t kGridPad = 1;

// A weight w [K, C, R, S] as the column panels amx::matmul takes for its right operand
// (amx::pack_weight_panels; p = K for the forward product, p = C for backward data), cached
// per weight version like the other weight layouts. Where both passes run here (y_shape, the
// convolution's output, is one conv2d_gemm_applies to), both layouts are made in one pass over
// w, which the forward's call does: per 512x512x3x3 weight, best of 15 with caches flushed,
// 0.68-0.70 -> 0.58-0.62 ms.
Tensor weight_panels(const Tensor& w, int column_dim, const Shape& y_shape) {
  if (!conv2d_gemm_applies(w.shape(), y_shape))
    return cached_derived(w, column_dim == 0 ? "amx panels, columns K" : "amx panels, columns C",
                          [&](const Tensor& t, Tensor out) {
                            if (!out.defined()) out = Tensor::empty({t.numel()}, DType::BFloat16);
                            amx::pack_weight_panels(float32_contiguous(t).data<float>(), t.shape(),
                                                    column_dim,
                                                    static_cast<uint16_t*>(out.raw_data()));
                            return out;
                          });
  Tensor both = cached_derived(w, "amx panels, columns K and C", [&](const Tensor& t, Tensor out) {
    if (!out.defined()) out = Tensor::empty({2 * t.numel()}, DType::BFloat16);
    auto* panels = static_cast<uint16_t*>(out.raw_data());
    amx::pack_weight_panels_both(float32_contiguous(t).data<float>(), t.shape(), panels,
                                 panels + t.numel());
    return out;
  });
  return engine::narrow(both, 0, column_dim * w.numel(), w.numel());
}

// out[P, Y] = cols(input)[P, R*S*X] x weights[R*S*X, Y], where input is [N, X, H, W] and out
// [N, Y, Ho, Wo], both bf16 NHWC. `weight_tag` lays w [K, C, R, S] out so that it is that
// matrix column by column (each column's R*S*X entries contiguous): acdb (OHWI) for the
// forward product, bcda (IHWO) for backward data.
Tensor product(const Tensor& input, const Tensor& w, const Shape& out_shape, Conv2dOptions o,
               bool reversed_taps, memory::format_tag weight_tag) {
  const int64_t R = w.shape()[2], S = w.shape()[3], X = input.shape()[1], Y = out_shape[1];
  const int64_t P = out_shape[0] * out_shape[2] * out_shape[3], row = R * S * X;
  const auto bf16 = memory::data_type::bf16;
  Tensor src = in_layout(input, nhwc_bf16(input.shape()));
  Tensor out = empty_like_desc(nhwc_bf16(out_shape), out_shape, DType::BFloat16);
  if (amx::fits_conv_weight(w.shape())) {
    Tensor panels =
        weight_panels(w, reversed_taps ? 1 : 0, reversed_taps ? input.shape() : out_shape);
    uint16_t* tiles = im2col_scratch(size_t(amx::padded(P)) * size_t(row));
    im2col_nhwc_tiles(static_cast<const uint16_t*>(src.raw_data()), input.shape(), out_shape, R, S,
                      o, reversed_taps, tiles);
    amx::matmul(tiles, static_cast<const uint16_t*>(panels.raw_data()), P, row, Y,
                static_cast<bfloat16*>(out.raw_data()), Y);
    return out;
  }
  Tensor wts = cached_weights(w, memory::desc(dims(w.shape()), bf16, weight_tag));
  uint16_t* cols = im2col_scratch(size_t(P) * size_t(row));
  im2col_nhwc(static_cast<const uint16_t*>(src.raw_data()), input.shape(), out_shape, R, S, o,
              reversed_taps, cols);

  memory::desc a({P, row}, bf16, memory::dims{row, 1});
  memory::desc b({row, Y}, bf16, memory::dims{1, row});
  memory::desc c({P, Y}, bf16, memory::dims{Y, 1});
  run_matmul(a, cols, b, wts.raw_data(), c, out.raw_data());
  return out;
}

// Backward data of a strided convolution, whose transpose is no convolution of dy: first
// dcols[P, R*S*C] = dy[P, K] x W[K, R*S*C] (W the forward's OHWI matrix, read row by row),
// then every input pixel gathers, in float32, the entries of the output pixels whose windows
// read it (col2im), and the sum is rounded to bf16 once.
Tensor backward_data_col2im(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                            Conv2dOptions o) {
  const Shape& ys = grad_y.shape();
  const int64_t K = w.shape()[0], C = w.shape()[1], R = w.shape()[2], S = w.shape()[3];
  const int64_t Ho = ys[2], Wo = ys[3], P = ys[0] * Ho * Wo, row = R * S * C;
  const auto bf16 = memory::data_type::bf16, f32 = memory::data_type::f32;
  Tensor dy = in_layout(grad_y, nhwc_bf16(ys));
  thread_local ScratchBuffer dcols_buffer;  // tens of MB at most; kept for the next call
  auto* dcols = reinterpret_cast<float*>(dcols_buffer.get(size_t(P) * size_t(row) * sizeof(float)));
  // oneDNN's matmul, not the tile product: with a sum over only K and a float32 result of
  // P x R*S*C it is the faster of the two (1024 x 512 x 2304: 1.03-1.22 ms against 1.29-1.31,
  // bench/amx_rates).
  Tensor wts = cached_weights(w, memory::desc(dims(w.shape()), bf16, memory::format_tag::acdb));
  memory::desc a({P, K}, bf16, memory::dims{K, 1});
  memory::desc b({K, row}, bf16, memory::dims{row, 1});
  memory::desc c({P, row}, f32, memory::dims{row, 1});
  run_matmul(a, dy.raw_data(), b, wts.raw_data(), c, dcols);

  Tensor dx = empty_like_desc(memory::desc(dims(x_shape), f32, memory::format_tag::nhwc), x_shape,
                              DType::Float32);
  auto* out = static_cast<float*>(dx.raw_data());
  const int64_t H = x_shape[2], W = x_shape[3], pixels = x_shape[0] * H * W;
#pragma omp parallel for schedule(static)
  for (int64_t q = 0; q < pixels; ++q) {
    const int64_t n = q / (H * W), hi = q / W % H, wi = q % W;
    float* sum = out + q * C;
    std::fill(sum, sum + C, 0.0f);
    for (int64_t r = 0; r < R; ++r) {
      const int64_t t = hi + o.padding - r;  // = ho * stride for the output rows that read hi
      if (t < 0 || t % o.stride != 0 || t / o.stride >= Ho) continue;
      for (int64_t s = 0; s < S; ++s) {
        const int64_t u = wi + o.padding - s;
        if (u < 0 || u % o.stride != 0 || u / o.stride >= Wo) continue;
        const float* from =
            dcols + ((n * Ho + t / o.stride) * Wo + u / o.stride) * row + (r * S + s) * C;
        for (int64_t ch = 0; ch < C; ++ch) sum[ch] += from[ch];
      }
    }
  }
  return converted(dx, DType::BFloat16);
}

// Backward data on the pixel grid of dy (im2col_nhwc.h), for a square kernel whose stride
// divides the image: the input pixels of one phase, u = stride * a + pu (and v likewise), each
// gather dy at a + (pu + pad - r) / stride through the taps r with pu + pad - r a multiple of
// the stride, so with a fixed shift on the grid per tap. One shifted product per phase
// (amx::shifted_rows_matmul): a stride-1 convolution has one phase and every tap; stride 2
// has four, with 1, 2, 2 and 4 of a 3x3 kernel's taps. Against copying dy nine times into an
// im2col matrix (or, strided, the float32 col2im), dy is copied once onto the grid and read in
// place.
struct GridPhase {
  std::vector<int64_t> shifts, panel_taps, out_rows;
};

// The phases of backward data on the grid: for each, the taps that read its input pixels, their
// shifts on the grid, and where each grid position's row goes in dx [N, H, W, C].
std::vector<GridPhase> grid_phases(int64_t R, Conv2dOptions o, const PixelGrid& grid, int64_t H,
                                   int64_t W) {
  // The offset along one axis from output a to the dy row tap r reads for input phase p, if
  // that tap reads it at all.
  auto offset = [&](int64_t p, int64_t r) -> std::optional<int64_t> {
    const int64_t d = p + o.padding - r;
    if (((d % o.stride) + o.stride) % o.stride != 0) return std::nullopt;
    return d / o.stride;
  };
  std::vector<GridPhase> phases;
  for (int64_t pu = 0; pu < o.stride; ++pu)
    for (int64_t pv = 0; pv < o.stride; ++pv) {
      GridPhase phase;
      for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < R; ++s) {
          const auto di = offset(pu, r), dj = offset(pv, s);
          if (!di || !dj) continue;
          phase.shifts.push_back(*di * grid.row() + *dj);
          phase.panel_taps.push_back(r * R + s);
        }
      // Position by position: the pixel of dx that dy's grid pixel (n, a, b) gives, (n,
      // stride * a + pu, stride * b + pv), or padding (-1, dropped).
      const GridPixelIndex dx_pixels(grid, o.stride, pu, pv, H, W);
      phase.out_rows.resize(size_t(grid.padded_positions()));
      for (int64_t q = 0; q < grid.padded_positions(); ++q)
        phase.out_rows[size_t(q)] = dx_pixels.at(q);
      phases.push_back(std::move(phase));
    }
  return phases;
}

// grid_phases per shape, made once: the serial loop over every grid position (74,000 for the
// 32x32 -> 16x16 layer's four phases) ran on every call while the other thread waited. An
// explicit cache, per thread, as the shapes a training run uses are few.
const std::vector<GridPhase>& cached_grid_phases(int64_t R, Conv2dOptions o, const PixelGrid& grid,
                                                 int64_t H, int64_t W) {
  using Key = std::array<int64_t, 8>;
  thread_local std::map<Key, std::vector<GridPhase>> cache;
  const Key key{R, o.stride, o.padding, grid.images, grid.height, grid.width, H, W};
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, grid_phases(R, o, grid, H, W)).first;
  return it->second;
}

Tensor backward_data_on_grid(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                             Conv2dOptions o) {
  const int64_t K = w.shape()[0], C = w.shape()[1], R = w.shape()[2];
  const Shape& ys = grad_y.shape();
  const PixelGrid grid{ys[0], ys[2], ys[3], kGridPad};
  Tensor dy = in_layout(grad_y, nhwc_bf16(ys));
  uint16_t* pixels = im2col_scratch(size_t(grid_pixels_size(K, grid)));
  grid_pixels(static_cast<const uint16_t*>(dy.raw_data()), K, grid, pixels);
  Tensor panels = weight_panels(w, 1, ys);
  Tensor dx = empty_like_desc(nhwc_bf16(x_shape), x_shape, DType::BFloat16);
  const std::vector<GridPhase>& phases = cached_grid_phases(R, o, grid, x_shape[2], x_shape[3]);
  std::vector<amx::ShiftedRowsPhase> views;
  for (const GridPhase& f : phases)
    views.push_back(
        {f.shifts.data(), f.panel_taps.data(), int64_t(f.shifts.size()), f.out_rows.data()});
  const amx::ShiftedRowsProduct product{pixels + grid.margin() * K,
                                        K,
                                        static_cast<const uint16_t*>(panels.raw_data()),
                                        16 * R * R * K,
                                        views.data(),
                                        int64_t(views.size()),
                                        grid.padded_positions(),
                                        K,
                                        C};
  amx::shifted_rows_matmul(product, static_cast<bfloat16*>(dx.raw_data()), C);
  return dx;
}

// Where the grid's backward data applies and wins (measured: see the header).
bool grid_backward_data_applies(const Shape& w_shape, const Shape& y_shape, const Shape& x_shape,
                                Conv2dOptions o) {
  const int64_t R = w_shape[2], area = y_shape[2] * y_shape[3];
  if (w_shape[3] != R || !amx::fits_conv_weight(w_shape)) return false;
  if (x_shape[2] != o.stride * y_shape[2] || x_shape[3] != o.stride * y_shape[3]) return false;
  const bool same_size = o.stride == 1 && R == 2 * o.padding + 1 && o.padding == kGridPad &&
                         area == kSameSizeGridPixels;
  const bool halving = o.stride == 2 &&
                       ((R == 3 && o.padding == 1) || (R == 1 && o.padding == 0)) &&
                       area >= kMinHalvingGridPixels;
  return same_size || halving;
}

}  // namespace

bool conv2d_gemm_applies(const Shape& w_shape, const Shape& y_shape) {
  return y_shape[2] * y_shape[3] <= kMaxOutputPixels &&
         std::max(w_shape[0], w_shape[1]) >= kMinChannels;
}

bool conv2d_gemm_backward_data_applies(const Shape& w_shape, const Shape& y_shape,
                                       const Shape& x_shape, Conv2dOptions o) {
  return conv2d_gemm_applies(w_shape, y_shape) ||
         grid_backward_data_applies(w_shape, y_shape, x_shape, o);
}

Tensor conv2d_forward_gemm(const Tensor& x, const Tensor& w, Conv2dOptions o) {
  Shape y_shape = engine::conv2d_output_shape(x.shape(), w.shape(), o);
  return product(x, w, y_shape, o, /*reversed_taps=*/false, memory::format_tag::acdb);
}

Tensor conv2d_backward_data_gemm(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                                 Conv2dOptions o) {
  if (grid_backward_data_applies(w.shape(), grad_y.shape(), x_shape, o))
    return backward_data_on_grid(grad_y, w, x_shape, o);
  const int64_t R = w.shape()[2], S = w.shape()[3];
  // Padding R-1-pad on each side is one number for both only with square kernels, and must
  // not be negative.
  if (o.stride != 1 || R != S || o.padding > R - 1)
    return backward_data_col2im(grad_y, w, x_shape, o);
  // The transposed convolution of a stride-1 one: dy padded by R-1-pad, taps reversed.
  Conv2dOptions transposed{1, R - 1 - o.padding};
  return product(grad_y, w, x_shape, transposed, /*reversed_taps=*/true, memory::format_tag::bcda);
}

}  // namespace sg::onednn
