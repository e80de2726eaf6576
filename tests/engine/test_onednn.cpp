// oneDNN kernels against the reference kernels, on the shapes ResNet uses and on odd ones.
// Inputs are float32; the reference accumulates in double, so differences are the fast
// kernels' float32 rounding: tolerances are relative to the output's largest magnitude.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>

#include "engine/onednn/amx_matmul.h"
#include "engine/onednn/context.h"
#include "engine/onednn/conv2d_backward_weight_bf16.h"
#include "engine/onednn/conv2d_backward_weight_gemm.h"
#include "engine/onednn/conv2d_gemm.h"
#include "engine/onednn/conv2d_winograd_bf16.h"
#include "engine/onednn/kernel_choice.h"
#include "engine/onednn/onednn_backend.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::expect_close;
namespace e = sg::engine;

namespace {
Backend& fast() { return onednn_backend(); }
Backend& ref() { return reference_backend(); }

Tensor rnd(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return normal(s, 0, 1, g);
}
Tensor t(const std::vector<double>& v, const Shape& s) { return Tensor::from_vector(v, s); }

struct ConvCase {
  Shape x, w;
  Conv2dOptions o;
  bool bias;
};
}  // namespace

TEST_CASE("onednn.conv2d") {
  std::vector<ConvCase> cases{
      {{2, 3, 32, 32}, {16, 3, 3, 3}, {1, 1}, false},     // CIFAR stem (3 input channels)
      {{2, 64, 16, 16}, {64, 64, 3, 3}, {1, 1}, false},   // BasicBlock 3x3
      {{2, 64, 16, 16}, {128, 64, 3, 3}, {2, 1}, false},  // downsampling 3x3, stride 2
      {{2, 64, 16, 16}, {128, 64, 1, 1}, {2, 0}, false},  // 1x1 projection shortcut
      {{1, 3, 23, 23}, {64, 3, 7, 7}, {2, 3}, false},     // ImageNet stem 7x7 stride 2
      {{3, 5, 9, 7}, {6, 5, 3, 3}, {2, 1}, true},         // odd channels and sizes, bias
      {{2, 20, 6, 6}, {17, 20, 1, 1}, {1, 0}, false},
  };
  uint64_t seed = 0;
  for (const auto& c : cases) {
    CAPTURE(shape_str(c.x));
    CAPTURE(shape_str(c.w));
    Tensor x = rnd(c.x, ++seed), w = rnd(c.w, ++seed),
           b = c.bias ? rnd({c.w[0]}, ++seed) : Tensor();
    Tensor y_fast = fast().conv2d_forward(x, w, b, c.o);
    Tensor y_ref = ref().conv2d_forward(x, w, b, c.o);
    expect_close(y_fast, y_ref, 1e-5, "forward");
    Tensor g = rnd(y_ref.shape(), ++seed);
    expect_close(fast().conv2d_backward_data(g, w, c.x, c.o),
                 ref().conv2d_backward_data(g, w, c.x, c.o), 1e-5, "backward data");
    Tensor dw = fast().conv2d_backward_weight(g, x, c.w, c.o);
    CHECK(dw.is_strided());  // optimizers update plain weights
    expect_close(dw, ref().conv2d_backward_weight(g, x, c.w, c.o), 1e-5, "backward weight");
  }
}

TEST_CASE("onednn.conv2d_keeps_blocked_layout_between_layers") {
  Tensor x = rnd({2, 32, 8, 8}, 1), w1 = rnd({32, 32, 3, 3}, 2), w2 = rnd({32, 32, 3, 3}, 3);
  Tensor h = fast().conv2d_forward(x, w1, Tensor(), {1, 1});
  CHECK_FALSE(h.is_strided());  // oneDNN chose a blocked layout and we kept it
  Tensor y = fast().conv2d_forward(h, w2, Tensor(), {1, 1});
  expect_close(
      y, ref().conv2d_forward(ref().conv2d_forward(x, w1, Tensor(), {1, 1}), w2, Tensor(), {1, 1}),
      1e-5);
  CHECK_THROWS_WITH_AS(h.data<float>(), doctest::Contains("convert it with engine::to_strided()"),
                       Error);
}

TEST_CASE("onednn.weight_cache_reorders_once_per_update") {
  Tensor x = rnd({2, 16, 8, 8}, 1), w = rnd({16, 16, 3, 3}, 2);
  fast().conv2d_forward(x, w, Tensor(), {1, 1});
  size_t primitives = onednn::primitive_cache_size(), weights = onednn::weight_cache_size();
  Tensor y1 = fast().conv2d_forward(x, w, Tensor(), {1, 1});
  CHECK(onednn::primitive_cache_size() == primitives);  // nothing new created
  CHECK(onednn::weight_cache_size() == weights);
  e::mul_(w, 2.0);  // an optimizer step: the version moves, the cached reorder is stale
  Tensor y2 = fast().conv2d_forward(x, w, Tensor(), {1, 1});
  expect_close(y2, e::mul(e::to_strided(y1), 2.0), 1e-6);
}

// conv2d of bf16 activations by our F(2x2, 3x3) Winograd kernels (forward, backward-data,
// backward-weight), against the float32 reference on the same (bf16-rounded) inputs and
// float32 weights. The kernels round the transformed tiles and weights to bf16 (and the
// activations they output): measured largest errors 0.4-0.6% of the largest output here;
// tolerance 1.5%. Shapes: ResNet's, odd sizes (partial tiles),
// 48 output channels (a 16-channel block after a 32-channel one), a 1x1 image.
namespace {
// The kernel called directly on nChw16c data, to show the backend dispatched to it.
Tensor winograd_bf16_direct(const Tensor& input, const Tensor& w, bool backward_data) {
  namespace wb = onednn::winograd_bf16;
  const Shape& in = input.shape();
  int64_t out_channels = backward_data ? w.shape()[1] : w.shape()[0];
  Shape out_shape{in[0], out_channels, in[2], in[3]};
  Tensor src = onednn::in_layout(input, onednn::nchw16c_bf16(in));
  Tensor u = Tensor::empty({wb::weights_size(w.shape()[1], w.shape()[0])}, DType::BFloat16);
  wb::transform_weights(e::contiguous(w).data<float>(), w.shape()[0], w.shape()[1], backward_data,
                        static_cast<uint16_t*>(u.raw_data()), 2);
  Tensor y = onednn::empty_like_desc(onednn::nchw16c_bf16(out_shape), out_shape, DType::BFloat16);
  wb::Problem p{in[0], in[1], out_channels, in[2], in[3]};
  onednn::ScratchBuffer scratch;
  wb::convolve(p, static_cast<const uint16_t*>(src.raw_data()),
               static_cast<const uint16_t*>(u.raw_data()), static_cast<uint16_t*>(y.raw_data()),
               scratch.get(size_t(wb::scratch_bytes(p, 2))), 2);
  return y;
}

Tensor winograd_bf16_weight_grad_direct(const Tensor& g, const Tensor& x, const Shape& w) {
  namespace wb = onednn::winograd_bf16;
  Tensor src = onednn::in_layout(x, onednn::nchw16c_bf16(x.shape()));
  Tensor dy = onednn::in_layout(g, onednn::nchw16c_bf16(g.shape()));
  Tensor dw = Tensor::empty(w, DType::Float32);
  wb::Problem p{x.shape()[0], x.shape()[1], w[0], x.shape()[2], x.shape()[3]};
  int threads = num_threads();  // the sums' order depends on the thread count
  onednn::ScratchBuffer scratch;
  wb::weight_grad(p, static_cast<const uint16_t*>(src.raw_data()),
                  static_cast<const uint16_t*>(dy.raw_data()), dw.data<float>(),
                  scratch.get(size_t(wb::weight_grad_scratch_bytes(p, threads))), threads);
  return dw;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  auto va = e::to_strided(e::to(a, DType::Float32)).to_vector();
  auto vb = e::to_strided(e::to(b, DType::Float32)).to_vector();
  return va == vb;
}

// Exits 77 (CTest: Skipped) with the reason where oneDNN has no bf16 matmul (below AVX-512):
// the im2col products' tests need one.
void skip_without_bf16_matmul() {
  if (!onednn::kernel_choice().bf16_native) {
    std::printf("SKIPPED: oneDNN has no bf16 matmul for this CPU (isa %s)\n",
                onednn::kernel_choice().isa.c_str());
    std::exit(77);
  }
}

// Exits 77 (CTest: Skipped) with the reason where the CPU cannot execute our bf16 kernels.
void skip_without_avx512_bf16() {
  if (!onednn::avx512_bf16_usable()) {
    std::printf(
        "SKIPPED: this CPU has no AVX-512 BF16, so our bf16 Winograd kernels cannot run "
        "here (kernel choice: %s)\n",
        onednn::tier_name(onednn::kernel_choice().tier));
    std::exit(77);
  }
}
}  // namespace

// The kernels themselves wherever the CPU can execute them (AMX machines too, where the
// backend does not choose them); that the backend dispatches to them where kernel_choice.h
// says it does.
TEST_CASE("onednn.conv2d_winograd_bf16") {
  skip_without_avx512_bf16();
  const bool dispatched = onednn::kernel_choice().winograd_bf16;
  std::vector<ConvCase> cases{
      {{2, 64, 16, 16}, {64, 64, 3, 3}, {1, 1}, false},   // BasicBlock 3x3
      {{2, 256, 4, 4}, {512, 256, 3, 3}, {1, 1}, false},  // wide, few tiles
      {{3, 256, 7, 7}, {256, 256, 3, 3}, {1, 1}, false},  // wide, 48 tiles in runs of 4
      {{2, 32, 7, 5}, {48, 32, 3, 3}, {1, 1}, false},     // partial tiles, 32 + 16 outputs
      {{3, 16, 1, 1}, {16, 16, 3, 3}, {1, 1}, false},     // one pixel: only the centre tap
  };
  uint64_t seed = 100;
  for (const auto& c : cases) {
    CAPTURE(shape_str(c.x));
    CAPTURE(shape_str(c.w));
    // Bits tell which kernel ran, except in the one-pixel case where the weight gradient is
    // a sum of 3 bf16 products at the centre tap: exact in fp32 for Winograd and for oneDNN's
    // AMX kernels alike (measured on an AMX Xeon: identical bits), so there only the
    // dispatched direction is evidence.
    const bool both_exact = c.x[2] == 1 && c.x[3] == 1;
    auto check_dispatch = [&](bool same_as_winograd) {
      if (dispatched || !both_exact) CHECK(same_as_winograd == dispatched);
    };
    Tensor x = e::to(rnd(c.x, ++seed), DType::BFloat16), w = rnd(c.w, ++seed);
    Tensor y = winograd_bf16_direct(x, w, false);
    check_dispatch(same_bits(fast().conv2d_forward(x, w, Tensor(), c.o), y));
    Tensor y_ref = ref().conv2d_forward(e::to(x, DType::Float32), w, Tensor(), c.o);
    expect_close(e::to(y, DType::Float32), y_ref, 1.5e-2, "forward");

    Tensor g = e::to(rnd(y_ref.shape(), ++seed), DType::BFloat16);
    Tensor dx = winograd_bf16_direct(g, w, true);
    check_dispatch(same_bits(fast().conv2d_backward_data(g, w, c.x, c.o), dx));
    expect_close(e::to(dx, DType::Float32),
                 ref().conv2d_backward_data(e::to(g, DType::Float32), w, c.x, c.o), 1.5e-2,
                 "backward data");

    Tensor dw = winograd_bf16_weight_grad_direct(g, x, c.w);
    check_dispatch(same_bits(fast().conv2d_backward_weight(g, x, c.w, c.o), dw));
    expect_close(
        dw,
        ref().conv2d_backward_weight(e::to(g, DType::Float32), e::to(x, DType::Float32), c.w, c.o),
        1.5e-2, "backward weight");
  }
}

TEST_CASE("onednn.conv2d_winograd_bf16_follows_weight_updates") {
  skip_without_avx512_bf16();
  if (!onednn::kernel_choice().winograd_bf16) {
    std::printf(
        "SKIPPED: the backend does not choose our bf16 Winograd kernels on this CPU "
        "(tier %s)\n",
        onednn::tier_name(onednn::kernel_choice().tier));
    std::exit(77);
  }
  Tensor x = e::to(rnd({2, 16, 6, 6}, 1), DType::BFloat16), w = rnd({32, 16, 3, 3}, 2);
  Tensor y1 = fast().conv2d_forward(x, w, Tensor(), {1, 1});
  e::mul_(w, 2.0);  // the cached transformed weights are stale now (and get overwritten)
  Tensor y2 = fast().conv2d_forward(x, w, Tensor(), {1, 1});
  // Doubling is exact in every rounding step, so the output doubles exactly.
  CHECK(same_bits(y2, e::mul(e::to(y1, DType::Float32), 2.0)));
}

// The weight gradient of strided bf16 convolutions by our AVX-512 BF16 per-tap products
// (conv2d_backward_weight_bf16.h), against the float32 reference on the same bf16 inputs. The
// product of two bf16 values is exact in float32, so only the order of the float32 sums differs:
// the fp32 kernels' tolerance (1e-5 of the largest value). Shapes: ResNet's stride-2 3x3 and
// 1x1; an odd number of positions (the last pair half zeros) with 48 inputs (a 16-channel block
// after a 32-channel one) and 16 outputs (8 rows per thread); 512 inputs, where 288 positions
// take three chunks, the last one odd.
namespace {
Tensor strided_weight_grad_bf16_direct(const Tensor& g, const Tensor& x, const Shape& w,
                                       Conv2dOptions o) {
  namespace bw = onednn::backward_weight_bf16;
  Tensor src = onednn::in_layout(x, onednn::nchw16c_bf16(x.shape()));
  Tensor dy = onednn::in_layout(g, onednn::nchw16c_bf16(g.shape()));
  Tensor dw = Tensor::empty(w, DType::Float32);
  const Shape &xs = x.shape(), &gs = g.shape();
  bw::Problem p{xs[0], xs[1], w[0], xs[2], xs[3], w[2], w[3], o.stride, o.padding, gs[2], gs[3]};
  int threads = num_threads();  // the sums' order depends on the thread count
  onednn::ScratchBuffer scratch;
  bw::weight_grad(p, static_cast<const uint16_t*>(src.raw_data()),
                  static_cast<const uint16_t*>(dy.raw_data()), dw.data<float>(),
                  scratch.get(size_t(bw::scratch_bytes(p, threads))), threads);
  return dw;
}
}  // namespace

TEST_CASE("onednn.conv2d_backward_weight_bf16") {
  skip_without_avx512_bf16();
  const bool dispatched = onednn::kernel_choice().strided_weight_grad_bf16;
  std::vector<ConvCase> cases{
      {{2, 64, 16, 16}, {128, 64, 3, 3}, {2, 1}, false},   // ResNet's stride-2 3x3
      {{2, 64, 16, 16}, {128, 64, 1, 1}, {2, 0}, false},   // and its 1x1 shortcut
      {{1, 48, 5, 5}, {16, 48, 3, 3}, {2, 1}, false},      // 9 positions
      {{2, 512, 24, 24}, {16, 512, 3, 3}, {2, 1}, false},  // chunks of 128 positions
  };
  uint64_t seed = 300;
  for (const auto& c : cases) {
    CAPTURE(shape_str(c.x));
    CAPTURE(shape_str(c.w));
    Tensor x = e::to(rnd(c.x, ++seed), DType::BFloat16);
    Shape y_shape = e::conv2d_output_shape(c.x, c.w, c.o);
    Tensor g = e::to(rnd(y_shape, ++seed), DType::BFloat16);
    Tensor dw = strided_weight_grad_bf16_direct(g, x, c.w, c.o);
    CHECK(same_bits(fast().conv2d_backward_weight(g, x, c.w, c.o), dw) == dispatched);
    expect_close(
        dw,
        ref().conv2d_backward_weight(e::to(g, DType::Float32), e::to(x, DType::Float32), c.w, c.o),
        1e-5, "backward weight");
  }
}

// The AMX row's bf16 weight gradient as im2col + matmul. The kernel runs wherever oneDNN has
// bf16 matmuls (AVX-512 BF16 machines too, where the backend does not choose it); against the
// reference on the same bf16 values it differs only by float32 accumulation order. Inputs
// arrive in the layouts the backend may hand it: plain NCHW and nChw16c (both reordered to
// NHWC), and NHWC as oneDNN's AMX convolutions leave it (used in place).
TEST_CASE("onednn.conv2d_backward_weight_gemm") {
  skip_without_bf16_matmul();
  const bool dispatched = onednn::kernel_choice().weight_grad_gemm;
  std::vector<ConvCase> cases{
      {{2, 64, 4, 4}, {32, 64, 3, 3}, {1, 1}, false},    // last stage: 4x4 outputs
      {{2, 32, 8, 8}, {48, 32, 3, 3}, {2, 1}, false},    // stride 2 into 4x4, padded edges
      {{3, 16, 5, 7}, {16, 16, 3, 3}, {1, 1}, false},    // odd sizes, 35 outputs
      {{2, 32, 8, 8}, {64, 32, 1, 1}, {2, 0}, false},    // 1x1 shortcut, stride 2
      {{1, 16, 16, 16}, {32, 16, 1, 1}, {1, 0}, false},  // 1x1 on a 16x16 output
      {{2, 256, 4, 4}, {32, 256, 3, 3}, {1, 1}, false},  // tiles: the whole batch at once
      {{2, 256, 4, 4}, {64, 256, 3, 3}, {1, 1}, false},  // ... threads sharing out the rows
  };
  // On AMX tiles 3x3 gradients of 16x16 outputs take the product too, in chunks of 896 pixels
  // here (stride 2, no padding): a whole chunk and one of 4 pixels (900), and one padded chunk
  // (845 pixels).
  const bool tiles = onednn::kernel_choice().amx_matmul;
  if (tiles) {
    cases.push_back({{4, 32, 32, 32}, {32, 32, 3, 3}, {2, 0}, false});
    cases.push_back({{5, 32, 28, 28}, {64, 32, 3, 3}, {2, 0}, false});
    // Stride 2, padded by 1, with 8x8 to 32x32 outputs: on the grid, x in four phases. Threads
    // sharing out positions, an odd image (the last row and column of phase 1 outside x), and
    // threads sharing out input channels (a 1.2 MB sum at 256x128x3x3).
    cases.push_back({{4, 32, 32, 32}, {32, 32, 3, 3}, {2, 1}, false});
    cases.push_back({{5, 32, 28, 28}, {64, 32, 3, 3}, {2, 1}, false});
    cases.push_back({{2, 32, 17, 17}, {32, 32, 3, 3}, {2, 1}, false});
    cases.push_back({{2, 128, 16, 16}, {256, 128, 3, 3}, {2, 1}, false});
    // 1x1 stride-2 shortcuts into 8x8 and more: one phase, one tap, no padding on the grid.
    cases.push_back({{2, 64, 32, 32}, {128, 64, 1, 1}, {2, 0}, false});
    cases.push_back({{2, 32, 17, 17}, {64, 32, 1, 1}, {2, 0}, false});
    // Stride-1 "same" convolutions with 8x8 to 16x16 outputs run the shifted products on the
    // pixel grid: threads sharing out positions (small sums), output channels (a 2.4 MB sum at
    // 256x256x3x3), an oblong image whose grid ends inside a run of 32, and a 5x5 kernel.
    cases.push_back({{4, 32, 16, 16}, {32, 32, 3, 3}, {1, 1}, false});
    // Threads sharing out positions pack them 1024 at a time (products of 256): two chunks each
    // here, the second partly a product's length.
    cases.push_back({{8, 128, 16, 16}, {128, 128, 3, 3}, {1, 1}, false});
    cases.push_back({{2, 64, 32, 32}, {64, 64, 3, 3}, {1, 1}, false});
    cases.push_back({{3, 32, 8, 8}, {64, 32, 3, 3}, {1, 1}, false});
    cases.push_back({{2, 256, 8, 8}, {256, 256, 3, 3}, {1, 1}, false});
    cases.push_back({{3, 64, 9, 11}, {32, 64, 3, 3}, {1, 1}, false});
    cases.push_back({{2, 32, 10, 10}, {32, 32, 5, 5}, {1, 2}, false});
  }
  uint64_t seed = 300;
  for (const auto& c : cases) {
    CAPTURE(shape_str(c.x));
    CAPTURE(shape_str(c.w));
    Shape ys = e::conv2d_output_shape(c.x, c.w, c.o);
    REQUIRE(onednn::conv2d_backward_weight_gemm_applies(ys, c.w, c.o));
    Tensor x = e::to(rnd(c.x, ++seed), DType::BFloat16);
    Tensor g = e::to(rnd(ys, ++seed), DType::BFloat16);
    Tensor dw_ref =
        ref().conv2d_backward_weight(e::to(g, DType::Float32), e::to(x, DType::Float32), c.w, c.o);
    Tensor dw = onednn::conv2d_backward_weight_gemm(g, x, c.w, c.o);
    CHECK(dw.is_strided());
    expect_close(dw, dw_ref, 1e-5, "plain NCHW");
    for (auto tag : {dnnl::memory::format_tag::nChw16c, dnnl::memory::format_tag::nhwc}) {
      auto in = [&](const Tensor& t) {
        return onednn::in_layout(
            t, dnnl::memory::desc(onednn::dims(t.shape()), dnnl::memory::data_type::bf16, tag));
      };
      CHECK(same_bits(onednn::conv2d_backward_weight_gemm(in(g), in(x), c.w, c.o), dw));
    }
    if (dispatched) CHECK(same_bits(fast().conv2d_backward_weight(g, x, c.w, c.o), dw));
  }
  // Outputs above 8x8 with a 3x3 kernel stay on oneDNN's convolution (faster there), up to
  // 16x16 with tiles and up to 32x32 on the grid (stride 1 keeping the size, or stride 2 padded
  // by 1), always above.
  const Conv2dOptions same{1, 1}, halving{2, 1}, valid_halving{2, 0};
  CHECK(onednn::conv2d_backward_weight_gemm_applies({2, 64, 16, 16}, {64, 64, 3, 3},
                                                    valid_halving) == tiles);
  CHECK(onednn::conv2d_backward_weight_gemm_applies({2, 64, 32, 32}, {64, 64, 3, 3}, same) ==
        tiles);
  CHECK(onednn::conv2d_backward_weight_gemm_applies({2, 64, 32, 32}, {64, 64, 3, 3}, halving) ==
        tiles);
  CHECK_FALSE(
      onednn::conv2d_backward_weight_gemm_applies({2, 64, 32, 32}, {64, 64, 3, 3}, valid_halving));
  CHECK_FALSE(onednn::conv2d_backward_weight_gemm_applies({2, 64, 64, 64}, {64, 64, 3, 3}, same));
  CHECK(onednn::conv2d_backward_weight_gemm_applies({2, 64, 8, 8}, {64, 64, 3, 3}, same));
}

// The AMX row's bf16 forward and backward-data convolutions of 4x4-pixel, 512-channel layers as
// im2col + matmul. Like the weight-gradient product it runs wherever oneDNN has bf16 matmuls.
// Against the reference on the same bf16 operands (weights rounded to bf16 first, as every
// bf16 convolution does) it differs by float32 accumulation order and the final rounding to
// bf16: at most half a bf16 step, which is up to 2^-8 (3.9e-3) of an output's magnitude (half
// of 0.25 at 33.1, say), plus a little.
TEST_CASE("onednn.conv2d_gemm") {
  skip_without_bf16_matmul();
  const bool dispatched = onednn::kernel_choice().conv_gemm;
  std::vector<ConvCase> cases{
      {{2, 512, 4, 4}, {512, 512, 3, 3}, {1, 1}, false},  // ResNet-18's last stage
      {{2, 512, 2, 3}, {64, 512, 3, 3}, {1, 1}, false},   // odd sizes, few outputs, edges
      {{2, 32, 4, 4}, {1024, 32, 1, 1}, {1, 0}, false},   // 1x1, wide output
      {{2, 256, 8, 8}, {512, 256, 3, 3}, {2, 1}, false},  // stride 2 into 4x4 (grid or col2im)
      {{2, 256, 7, 7}, {512, 256, 1, 1}, {2, 0}, false},  // 1x1 shortcut, stride 2, odd size
      // Channels that are not multiples of 32: oneDNN's matmul even where amx_matmul runs.
      {{2, 520, 4, 4}, {48, 520, 3, 3}, {1, 1}, false},
      {{2, 48, 8, 8}, {520, 48, 3, 3}, {2, 1}, false},
  };
  uint64_t seed = 400;
  auto rounded = [](const Tensor& t) { return e::to(e::to(t, DType::BFloat16), DType::Float32); };
  for (const auto& c : cases) {
    CAPTURE(shape_str(c.x));
    CAPTURE(shape_str(c.w));
    Shape ys = e::conv2d_output_shape(c.x, c.w, c.o);
    REQUIRE(onednn::conv2d_gemm_applies(c.w, ys));
    Tensor x = e::to(rnd(c.x, ++seed), DType::BFloat16), w = rnd(c.w, ++seed);
    auto in = [&](const Tensor& t, dnnl::memory::format_tag tag) {
      return onednn::in_layout(
          t, dnnl::memory::desc(onednn::dims(t.shape()), dnnl::memory::data_type::bf16, tag));
    };
    Tensor y = onednn::conv2d_forward_gemm(x, w, c.o);
    expect_close(e::to(y, DType::Float32),
                 ref().conv2d_forward(e::to(x, DType::Float32), rounded(w), Tensor(), c.o), 4.5e-3,
                 "forward");
    CHECK(same_bits(onednn::conv2d_forward_gemm(in(x, dnnl::memory::format_tag::nChw16c), w, c.o),
                    y));
    if (dispatched) CHECK(same_bits(fast().conv2d_forward(x, w, Tensor(), c.o), y));

    Tensor g = e::to(rnd(ys, ++seed), DType::BFloat16);
    Tensor dx = onednn::conv2d_backward_data_gemm(g, w, c.x, c.o);
    expect_close(e::to(dx, DType::Float32),
                 ref().conv2d_backward_data(e::to(g, DType::Float32), rounded(w), c.x, c.o), 4.5e-3,
                 "backward data");
    CHECK(same_bits(
        onednn::conv2d_backward_data_gemm(in(g, dnnl::memory::format_tag::nhwc), w, c.x, c.o), dx));
    if (dispatched) CHECK(same_bits(fast().conv2d_backward_data(g, w, c.x, c.o), dx));
  }
  // The cached weight matrices follow the weight's updates: doubling is exact in every
  // rounding step, so the outputs double exactly.
  Tensor x = e::to(rnd({2, 512, 4, 4}, 1), DType::BFloat16), w = rnd({512, 512, 3, 3}, 2);
  Tensor g = e::to(rnd({2, 512, 4, 4}, 3), DType::BFloat16);
  Tensor y1 = onednn::conv2d_forward_gemm(x, w, {1, 1});
  Tensor dx1 = onednn::conv2d_backward_data_gemm(g, w, x.shape(), {1, 1});
  e::mul_(w, 2.0);
  CHECK(
      same_bits(onednn::conv2d_forward_gemm(x, w, {1, 1}), e::mul(e::to(y1, DType::Float32), 2.0)));
  CHECK(same_bits(onednn::conv2d_backward_data_gemm(g, w, x.shape(), {1, 1}),
                  e::mul(e::to(dx1, DType::Float32), 2.0)));
  Tensor w2 = rnd({512, 256, 3, 3}, 4), g2 = e::to(rnd({2, 512, 4, 4}, 5), DType::BFloat16);
  // On the grid with AMX tiles, else col2im.
  Tensor dx2 = onednn::conv2d_backward_data_gemm(g2, w2, {2, 256, 8, 8}, {2, 1});
  e::mul_(w2, 2.0);
  CHECK(same_bits(onednn::conv2d_backward_data_gemm(g2, w2, {2, 256, 8, 8}, {2, 1}),
                  e::mul(e::to(dx2, DType::Float32), 2.0)));
  // Where oneDNN's convolutions are faster the products do not apply: 8x8 outputs, 256
  // channels.
  CHECK_FALSE(onednn::conv2d_gemm_applies({512, 512, 3, 3}, {2, 512, 8, 8}));
  CHECK_FALSE(onednn::conv2d_gemm_applies({256, 256, 3, 3}, {2, 256, 4, 4}));
}

// Backward data on the pixel grid of dy (conv2d_gemm.cpp): a stride-1 3x3 convolution at 8x8
// in one shifted product, stride-2 ones as four phases of the input pixels, each its own
// subset of taps at its own shifts. Against the reference on the same bf16 operands, within
// the bound of onednn.conv2d_gemm; a phase that read the wrong dy row or tap, or wrote to the
// wrong input pixel, would be off by whole products.
TEST_CASE("onednn.conv2d_backward_data_on_grid") {
  if (!onednn::kernel_choice().amx_matmul) {
    std::printf(
        "SKIPPED: the grid products run on AMX tiles, which this CPU (or its kernel, or "
        "SG_AMX_MATMUL=0) does not offer\n");
    std::exit(77);
  }
  const bool dispatched = onednn::kernel_choice().conv_gemm;
  std::vector<ConvCase> cases{
      {{2, 256, 8, 8}, {256, 256, 3, 3}, {1, 1}, false},    // ResNet-18's third stage
      {{2, 64, 32, 32}, {128, 64, 3, 3}, {2, 1}, false},    // its three stride-2 3x3 layers
      {{2, 128, 16, 16}, {256, 128, 3, 3}, {2, 1}, false},  //
      {{2, 256, 8, 8}, {512, 256, 3, 3}, {2, 1}, false},    //
      {{3, 32, 12, 8}, {64, 32, 3, 3}, {2, 1}, false},      // three images, not square
      // ResNet's 1x1 stride-2 shortcuts: one phase with the tap, three with none (zeros).
      {{2, 64, 32, 32}, {128, 64, 1, 1}, {2, 0}, false},
      {{2, 128, 16, 16}, {256, 128, 1, 1}, {2, 0}, false},
      {{2, 256, 8, 8}, {512, 256, 1, 1}, {2, 0}, false},
      {{3, 32, 12, 8}, {64, 32, 1, 1}, {2, 0}, false},
  };
  uint64_t seed = 700;
  auto rounded = [](const Tensor& t) { return e::to(e::to(t, DType::BFloat16), DType::Float32); };
  for (const auto& c : cases) {
    CAPTURE(shape_str(c.x));
    CAPTURE(shape_str(c.w));
    Shape ys = e::conv2d_output_shape(c.x, c.w, c.o);
    REQUIRE(onednn::conv2d_gemm_backward_data_applies(c.w, ys, c.x, c.o));
    Tensor w = rnd(c.w, ++seed), g = e::to(rnd(ys, ++seed), DType::BFloat16);
    Tensor dx = onednn::conv2d_backward_data_gemm(g, w, c.x, c.o);
    expect_close(e::to(dx, DType::Float32),
                 ref().conv2d_backward_data(e::to(g, DType::Float32), rounded(w), c.x, c.o), 4.5e-3,
                 "backward data");
    Tensor blocked =
        onednn::in_layout(g, dnnl::memory::desc(onednn::dims(ys), dnnl::memory::data_type::bf16,
                                                dnnl::memory::format_tag::nChw16c));
    CHECK(same_bits(onednn::conv2d_backward_data_gemm(blocked, w, c.x, c.o), dx));
    if (dispatched) CHECK(same_bits(fast().conv2d_backward_data(g, w, c.x, c.o), dx));
  }
  // The pixels no tap reads are written as zeros, not left as they were: dx's memory is that
  // of a NaN-filled tensor of its size just freed (blocks of 128 KiB and more are reused by
  // size, engine/storage.cpp).
  {
    const Shape xs{8, 64, 32, 32}, ws{128, 64, 1, 1};  // 1 MiB of bf16
    Tensor w = rnd(ws, 790), g = e::to(rnd({8, 128, 16, 16}, 791), DType::BFloat16);
    { Tensor poison = Tensor::full(xs, std::nan(""), DType::BFloat16); }
    Tensor dx = onednn::conv2d_backward_data_gemm(g, w, xs, {2, 0});
    expect_close(e::to(dx, DType::Float32),
                 ref().conv2d_backward_data(e::to(g, DType::Float32), rounded(w), xs, {2, 0}),
                 4.5e-3, "backward data over freed NaNs");
  }
  // Where oneDNN's kernels are as fast or the grid does not fit: stride 1 above 8x8, a stride
  // that does not divide the image, a 1x1 kernel of stride 1.
  CHECK_FALSE(onednn::conv2d_gemm_backward_data_applies({128, 128, 3, 3}, {2, 128, 16, 16},
                                                        {2, 128, 16, 16}, {1, 1}));
  CHECK_FALSE(onednn::conv2d_gemm_backward_data_applies({128, 64, 3, 3}, {2, 128, 5, 5},
                                                        {2, 64, 9, 9}, {2, 1}));
  CHECK_FALSE(onednn::conv2d_gemm_backward_data_applies({128, 64, 1, 1}, {2, 128, 8, 8},
                                                        {2, 64, 8, 8}, {1, 0}));
}

// bf16 backward data of 3x3 stride-1 convolutions on the amx tier, outside the outputs our
// products take, runs as oneDNN's forward convolution of dy with the turned weight
// w'[c, k, r, s] = w[k, c, 2-r, 2-s] (conv2d.cpp): within the products' bound of the reference,
// bit for bit the forward convolution with a weight turned here (so it is what ran), and
// following the weight's updates. K differs from C in one case, so a weight turned without the
// transposition fails.
TEST_CASE("onednn.conv2d_backward_data_as_forward") {
  if (!onednn::kernel_choice().conv_gemm) {
    std::printf(
        "SKIPPED: backward data runs as a forward convolution on the amx tier only (this CPU: "
        "%s, or SG_CONV_GEMM=0)\n",
        onednn::tier_name(onednn::kernel_choice().tier));
    std::exit(77);
  }
  std::vector<ConvCase> cases{
      {{2, 64, 32, 32}, {64, 64, 3, 3}, {1, 1}, false},     // ResNet-18's first stage
      {{2, 128, 16, 16}, {128, 128, 3, 3}, {1, 1}, false},  // and its second
      {{3, 48, 12, 7}, {32, 48, 3, 3}, {1, 1}, false},      // K != C, not square
  };
  uint64_t seed = 800;
  auto rounded = [](const Tensor& t) { return e::to(e::to(t, DType::BFloat16), DType::Float32); };
  auto turned = [](const Tensor& w) {
    const int64_t K = w.shape()[0], C = w.shape()[1];
    const std::vector<double> v = w.to_vector();
    std::vector<double> out(v.size());
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t q = 0; q < 3; ++q)
            out[size_t(((c * K + k) * 3 + 2 - r) * 3 + 2 - q)] =
                v[size_t(((k * C + c) * 3 + r) * 3 + q)];
    return Tensor::from_vector(out, {C, K, 3, 3});
  };
  for (const auto& c : cases) {
    CAPTURE(shape_str(c.x));
    CAPTURE(shape_str(c.w));
    Tensor w = rnd(c.w, ++seed);
    Tensor g = e::to(rnd(e::conv2d_output_shape(c.x, c.w, c.o), ++seed), DType::BFloat16);
    Tensor dx = fast().conv2d_backward_data(g, w, c.x, c.o);
    expect_close(e::to(dx, DType::Float32),
                 ref().conv2d_backward_data(e::to(g, DType::Float32), rounded(w), c.x, c.o), 4.5e-3,
                 "backward data");
    CHECK(same_bits(fast().conv2d_forward(g, turned(w), Tensor(), c.o), dx));
    e::mul_(w, 2.0);  // a new version: doubling is exact in every rounding step
    CHECK(same_bits(fast().conv2d_backward_data(g, w, c.x, c.o),
                    e::mul(e::to(dx, DType::Float32), 2.0)));
  }
}

// The AMX tile product against a double-precision sum, on operands packed by amx_matmul.h's
// formulas: rows that do not fill a block of 32 (m = 45), several blocks each way, both output
// types, a row stride wider than n, and a sum long enough to run in chunks.
TEST_CASE("onednn.amx_matmul") {
  if (!onednn::amx::usable()) {
    std::printf("SKIPPED: this CPU (or its kernel) offers no AMX bf16 tiles\n");
    std::exit(77);
  }
  const int64_t m = 45, n = 160, ldc = 170;
  // k = 4640: amx::matmul sums in chunks of k (2304, 2304 and 32) with float32 partial sums.
  for (const int64_t k : {int64_t(96), int64_t(4640)}) {
    CAPTURE(k);
    Tensor a = e::to(rnd({m, k}, 500 + uint64_t(k)), DType::BFloat16),
           b = e::to(rnd({k, n}, 501 + uint64_t(k)), DType::BFloat16);
    const auto* av = static_cast<const uint16_t*>(a.raw_data());
    const auto* bv = static_cast<const uint16_t*>(b.raw_data());
    std::vector<uint16_t> tiles(size_t(onednn::amx::padded(m) * k), 0), panels(size_t(k * n));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < k; ++j)
        tiles[size_t(((i / 16) * (k / 32) + j / 32) * 512 + (i % 16) * 32 + j % 32)] =
            av[i * k + j];
    for (int64_t j = 0; j < k; ++j)
      for (int64_t c = 0; c < n; ++c)
        panels[size_t((c / 16) * k * 16 + (j / 2) * 32 + (c % 16) * 2 + j % 2)] = bv[j * n + c];
    std::vector<float> c32(size_t(m * ldc), -7.f);
    std::vector<bfloat16> c16(size_t(m * ldc), bfloat16(-7.f));
    onednn::amx::matmul(tiles.data(), panels.data(), m, k, n, c32.data(), ldc);
    onednn::amx::matmul(tiles.data(), panels.data(), m, k, n, c16.data(), ldc);
    std::vector<double> af = e::to(a, DType::Float32).to_vector(),
                        bf = e::to(b, DType::Float32).to_vector();
    // Entry (i, c) of A B in double, and the magnitude its float32 sum's error is bounded by:
    // k roundings of at most 2^-24 of the sum of the (exact) bf16 products' magnitudes.
    auto exact = [&](int64_t i, int64_t c, double* bound) {
      double sum = 0, magnitude = 0;
      for (int64_t j = 0; j < k; ++j) {
        sum += af[size_t(i * k + j)] * bf[size_t(j * n + c)];
        magnitude += std::abs(af[size_t(i * k + j)] * bf[size_t(j * n + c)]);
      }
      *bound = double(k) * 0x1p-24 * magnitude;
      return sum;
    };
    int wrong = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t c = 0; c < ldc; ++c) {
        const float got32 = c32[size_t(i * ldc + c)], got16 = float(c16[size_t(i * ldc + c)]);
        if (c >= n) {  // past n: untouched
          wrong += got32 != -7.f || got16 != -7.f;
          continue;
        }
        double bound, sum = exact(i, c, &bound);
        wrong += std::abs(got32 - sum) > bound;
        // ... and one rounding to bf16 (2^-9 relative) of the float32 result.
        wrong += got16 != float(bfloat16(got32));
      }
    CHECK(wrong == 0);
    // matmul_add (whole blocks only): the first 32 rows' product added to what C held (the
    // start value one more term of the float32 sum).
    std::vector<float> total(size_t(32 * ldc), 0.5f);
    onednn::amx::matmul_add(tiles.data(), panels.data(), 32, k, n, total.data(), ldc);
    int added_wrong = 0;
    for (int64_t i = 0; i < 32; ++i)
      for (int64_t c = 0; c < ldc; ++c) {
        const float got = total[size_t(i * ldc + c)];
        if (c >= n) {
          added_wrong += got != 0.5f;
          continue;
        }
        double bound, sum = exact(i, c, &bound);
        added_wrong += std::abs(got - (sum + 0.5)) >
                       double(k + 1) / double(k) * bound + double(k + 1) * 0x1p-24 * 0.5;
      }
    CHECK(added_wrong == 0);
  }
}

// The weight panels of the AMX products (forward: columns K; backward data: columns C), one
// layout at a time and both in one pass, against amx_matmul.h's panel formula on the weight rounded
// to bf16 by sg::bfloat16 (nearest even): bit for bit, on a weight whose dimensions differ (K 48, C
// 32, 3x2 taps) so that a swapped stride shows.
TEST_CASE("onednn.conv2d_gemm_weight_panels") {
  if (!onednn::amx::usable()) {
    std::printf("SKIPPED: this CPU (or its kernel) offers no AMX bf16 tiles\n");
    std::exit(77);
  }
  const int64_t K = 48, C = 32, R = 3, S = 2, taps = R * S;
  Tensor w = rnd({K, C, R, S}, 600);
  const std::vector<double> wv = w.to_vector();
  for (int column_dim : {0, 1}) {
    CAPTURE(column_dim);
    const int64_t P = column_dim == 0 ? K : C, Q = column_dim == 0 ? C : K, rows = taps * Q;
    std::vector<uint16_t> got(size_t(K * C * taps), 0xdead), want(got.size());
    onednn::amx::pack_weight_panels(w.data<float>(), w.shape(), column_dim, got.data());
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q)
        for (int64_t t = 0; t < taps; ++t) {
          const int64_t k = column_dim == 0 ? p : q, c = column_dim == 0 ? q : p;
          const int64_t row = t * Q + q;
          want[size_t((p / 16) * rows * 16 + (row / 2) * 32 + (p % 16) * 2 + row % 2)] =
              bfloat16(float(wv[size_t((k * C + c) * taps + t)])).bits;
        }
    CHECK(got == want);
    // Both layouts in one pass write the same panels.
    std::vector<uint16_t> by_k(got.size(), 0xdead), by_c(got.size(), 0xdead);
    onednn::amx::pack_weight_panels_both(w.data<float>(), w.shape(), by_k.data(), by_c.data());
    CHECK((column_dim == 0 ? by_k : by_c) == want);
  }
}

TEST_CASE("onednn.batch_norm") {
  for (Shape s : {Shape{4, 32, 6, 6}, Shape{3, 5, 4, 3}, Shape{16, 48}, Shape{64, 2048}}) {
    std::string shape = shape_str(s);  // a named copy: clang 14 lambdas cannot capture bindings
    CAPTURE(shape);
    int64_t C = s[1];
    Tensor x = e::add(e::mul(rnd(s, 1), 3.0), 1.5);
    Tensor gamma = e::add(rnd({C}, 2), 2.0), beta = rnd({C}, 3);
    Tensor rm_f = Tensor::zeros({C}), rv_f = Tensor::ones({C}), rm_r = Tensor::zeros({C}),
           rv_r = Tensor::ones({C});
    auto f = fast().batch_norm_forward_train(x, gamma, beta, rm_f, rv_f, 0.1, 1e-5, false);
    auto r = ref().batch_norm_forward_train(x, gamma, beta, rm_r, rv_r, 0.1, 1e-5, false);
    expect_close(f.y, r.y, 1e-5, "train forward");
    expect_close(f.save_mean, r.save_mean, 1e-5, "mean");
    expect_close(f.save_var, r.save_var, 1e-5, "variance");
    expect_close(rm_f, rm_r, 1e-5, "running mean");
    expect_close(rv_f, rv_r, 1e-5, "running variance (unbiased)");
    Tensor g = rnd(s, 4);
    auto gf = fast().batch_norm_backward(g, x, gamma, f.save_mean, f.save_var, 1e-5, Tensor());
    auto gr = ref().batch_norm_backward(g, x, gamma, r.save_mean, r.save_var, 1e-5, Tensor());
    expect_close(gf.dx, gr.dx, 1e-4, "dx");
    expect_close(gf.dgamma, gr.dgamma, 1e-5, "dgamma");
    expect_close(gf.dbeta, gr.dbeta, 1e-5, "dbeta");
    auto nf = fast().batch_norm_backward(g, x, Tensor(), f.save_mean, f.save_var, 1e-5, Tensor());
    auto nr = ref().batch_norm_backward(g, x, Tensor(), r.save_mean, r.save_var, 1e-5, Tensor());
    expect_close(nf.dx, nr.dx, 1e-4, "dx without affine");
    expect_close(fast().batch_norm_forward_infer(x, gamma, beta, rm_f, rv_f, 1e-5, false),
                 ref().batch_norm_forward_infer(x, gamma, beta, rm_r, rv_r, 1e-5, false), 1e-5,
                 "inference");
  }
}

TEST_CASE("onednn.batch_norm_relu") {
  // Blocked input from a convolution, as in ResNet's conv -> BN -> ReLU; and [N, C], as in the
  // SSL heads' Linear -> BatchNorm1d -> ReLU (C not a multiple of 16).
  Tensor blocked =
      fast().conv2d_forward(rnd({4, 16, 6, 6}, 1), rnd({32, 16, 3, 3}, 2), Tensor(), {1, 1});
  for (const Tensor& x : {blocked, rnd({64, 40}, 8)}) {
    std::string shape = shape_str(x.shape());
    CAPTURE(shape);
    int64_t C = x.shape()[1];
    Tensor xs = e::to_strided(x);
    Tensor gamma = e::add(rnd({C}, 3), 1.0), beta = rnd({C}, 4);
    auto f = fast().batch_norm_forward_train(x, gamma, beta, Tensor(), Tensor(), 0.1, 1e-5, true);
    auto r = ref().batch_norm_forward_train(xs, gamma, beta, Tensor(), Tensor(), 0.1, 1e-5, true);
    expect_close(f.y, r.y, 1e-5, "forward");
    Tensor g = rnd(x.shape(), 5);
    auto gf = fast().batch_norm_backward(g, x, gamma, f.save_mean, f.save_var, 1e-5, f.relu_mask);
    auto gr = ref().batch_norm_backward(g, xs, gamma, r.save_mean, r.save_var, 1e-5, r.relu_mask);
    expect_close(gf.dx, gr.dx, 1e-4, "dx");
    expect_close(gf.dgamma, gr.dgamma, 1e-5, "dgamma");
    expect_close(gf.dbeta, gr.dbeta, 1e-5, "dbeta");
    Tensor rm = rnd({C}, 6), rv = e::add(e::abs(rnd({C}, 7)), 0.5);
    expect_close(fast().batch_norm_forward_infer(x, gamma, beta, rm, rv, 1e-5, true),
                 ref().batch_norm_forward_infer(xs, gamma, beta, rm, rv, 1e-5, true), 1e-5,
                 "inference");
  }
}

TEST_CASE("onednn.batch_norm_on_blocked_input") {
  Tensor w = rnd({32, 16, 3, 3}, 1);
  Tensor x = fast().conv2d_forward(rnd({4, 16, 8, 8}, 2), w, Tensor(), {1, 1});
  REQUIRE_FALSE(x.is_strided());
  Tensor xs = e::to_strided(x);
  Tensor rm = Tensor::zeros({32}), rv = Tensor::ones({32});
  auto f = fast().batch_norm_forward_train(x, Tensor::ones({32}), Tensor::zeros({32}), rm, rv, 0.1,
                                           1e-5, false);
  CHECK_FALSE(f.y.is_strided());
  auto r = ref().batch_norm_forward_train(xs, Tensor::ones({32}), Tensor::zeros({32}), Tensor(),
                                          Tensor(), 0.1, 1e-5, false);
  expect_close(f.y, r.y, 1e-5);
}

// bf16 activations in NHWC, as oneDNN's AMX convolutions hand them over, and in nChw16c, as
// the others and our Winograd kernels do: where the CPU has AVX-512 BF16 our kernels run
// (batch_norm_bf16.h; their ReLU mask has a layout of its own), elsewhere oneDNN's. Either way
// the results are the reference's on the same bf16 values, to bf16's rounding of y and dx. One
// case has a mean 40 standard deviations from 0 (the kernels take both moments in one pass,
// about a shift), one 24 channels (not whole vectors: oneDNN's), one 80 channels over 324 rows
// (five vectors a row; more rows than one block of 256), one 32 channels at 17x17 (planes of
// 289 pixels: two runs each in nChw16c).
// t rounded to bf16 in `desc` (NHWC or nChw16c); and back to a plain float32 tensor.
Tensor to_bf16_in(const Tensor& t, const dnnl::memory::desc& desc) {
  return onednn::in_layout(e::to(t, DType::BFloat16), desc);
}
Tensor widened_plain(const Tensor& t) { return e::to(e::to_strided(t), DType::Float32); }
// The layouts bf16 BatchNorm is tested in: nChw16c when `blocked`, else NHWC.
dnnl::memory::desc batch_norm_layout(const Shape& shape, bool blocked) {
  return blocked ? onednn::nchw16c_bf16(shape) : onednn::nhwc_bf16(shape);
}
std::string layout_case(const Shape& shape, bool blocked) {
  return shape_str(shape) + (blocked ? " nChw16c" : " NHWC");
}

TEST_CASE("onednn.batch_norm_bf16") {
  struct Case {
    Shape shape;
    double mean, std;
    bool relu, affine;
  };
  for (const Case& c : std::vector<Case>{{{4, 32, 5, 7}, 0.5, 2.0, true, true},
                                         {{3, 64, 9, 9}, 0.0, 1.0, false, true},
                                         {{2, 16, 1, 1}, -1.0, 1.0, true, false},
                                         {{8, 48, 4, 4}, 20.0, 0.5, true, true},
                                         {{4, 24, 3, 3}, 0.0, 1.0, true, true},
                                         {{4, 80, 9, 9}, 1.0, 3.0, true, true},
                                         {{2, 32, 17, 17}, 0.5, 1.0, true, true},
                                         // 9 channel vectors: summed as 8, then 1
                                         {{3, 144, 10, 10}, -2.0, 1.5, true, true}})
    for (bool blocked : {false, true}) {
      std::string shape = layout_case(c.shape, blocked);
      CAPTURE(shape);
      int64_t C = c.shape[1];
      const dnnl::memory::desc desc = batch_norm_layout(c.shape, blocked);
      Tensor x = to_bf16_in(e::add(e::mul(rnd(c.shape, 1), c.std), c.mean), desc);
      Tensor dy = to_bf16_in(rnd(c.shape, 2), desc);
      Tensor xs = widened_plain(x), dys = widened_plain(dy);
      Tensor gamma = c.affine ? e::add(rnd({C}, 3), 1.5) : Tensor();
      Tensor beta = c.affine ? rnd({C}, 4) : Tensor();
      Tensor rm_f = Tensor::zeros({C}), rv_f = Tensor::ones({C}), rm_r = Tensor::zeros({C}),
             rv_r = Tensor::ones({C});
      auto f = fast().batch_norm_forward_train(x, gamma, beta, rm_f, rv_f, 0.1, 1e-5, c.relu);
      auto r = ref().batch_norm_forward_train(xs, gamma, beta, rm_r, rv_r, 0.1, 1e-5, c.relu);
      bool ours = c.relu && f.relu_mask.layout()->name().find("stopgrad") != std::string::npos;
      if (c.relu) CHECK(ours == (onednn::kernel_choice().batch_norm_bf16 && C % 16 == 0));
      CHECK(f.y.dtype() == DType::BFloat16);
      CHECK(onednn::desc_of(f.y) == desc);
      expect_close(widened_plain(f.y), r.y, 8e-3, "y (bf16)");
      expect_close(f.save_mean, r.save_mean, 1e-5, "mean");
      expect_close(f.save_var, r.save_var, 1e-5, "variance");
      expect_close(rm_f, rm_r, 1e-5, "running mean");
      expect_close(rv_f, rv_r, 1e-5, "running variance (unbiased)");
      auto gf =
          fast().batch_norm_backward(dy, x, gamma, f.save_mean, f.save_var, 1e-5, f.relu_mask);
      auto gr =
          ref().batch_norm_backward(dys, xs, gamma, r.save_mean, r.save_var, 1e-5, r.relu_mask);
      CHECK(gf.dx.dtype() == DType::BFloat16);
      expect_close(widened_plain(gf.dx), gr.dx, 8e-3, "dx (bf16)");
      CHECK(gf.dgamma.defined() == c.affine);
      if (c.affine) {
        expect_close(gf.dgamma, gr.dgamma, 1e-4, "dgamma");
        expect_close(gf.dbeta, gr.dbeta, 1e-4, "dbeta");
      }
    }
}

// A residual block's join with its last BatchNorm: fused in our bf16 kernels' normalising pass
// where they run (NHWC and nChw16c on CPUs with AVX-512 BF16), with the bits of batch_norm then
// add_relu on this backend (the base Backend's composition, called explicitly); elsewhere that
// composition itself. Against the reference within bf16's rounding, as batch_norm's.
TEST_CASE("onednn.batch_norm_add_relu") {
  struct Case {
    Shape shape;
    double mean, std;
    bool affine, plain_residual;
  };
  for (const Case& c : std::vector<Case>{{{4, 32, 5, 7}, 0.5, 2.0, true, false},
                                         {{3, 64, 9, 9}, 0.0, 1.0, true, true},
                                         {{2, 16, 3, 1}, -1.0, 1.0, false, false},
                                         {{4, 24, 3, 3}, 0.0, 1.0, true, false}})
    for (bool blocked : {false, true}) {
      std::string shape = layout_case(c.shape, blocked);
      CAPTURE(shape);
      int64_t C = c.shape[1];
      const dnnl::memory::desc desc = batch_norm_layout(c.shape, blocked);
      Tensor x = to_bf16_in(e::add(e::mul(rnd(c.shape, 1), c.std), c.mean), desc);
      Tensor r = to_bf16_in(rnd(c.shape, 2), desc);
      if (c.plain_residual) r = e::to_strided(r);
      Tensor gamma = c.affine ? e::add(rnd({C}, 3), 1.5) : Tensor();
      Tensor beta = c.affine ? rnd({C}, 4) : Tensor();
      Tensor rm_f = Tensor::zeros({C}), rv_f = Tensor::ones({C}), rm_c = Tensor::zeros({C}),
             rv_c = Tensor::ones({C}), rm_r = Tensor::zeros({C}), rv_r = Tensor::ones({C});
      CHECK(onednn::batch_norm_add_relu_fuses(x, r, gamma, beta) ==
            (onednn::kernel_choice().batch_norm_bf16 && C % 16 == 0));
      auto f = fast().batch_norm_add_relu_forward_train(x, r, gamma, beta, rm_f, rv_f, 0.1, 1e-5);
      auto composed = static_cast<Backend&>(fast()).Backend::batch_norm_add_relu_forward_train(
          x, r, gamma, beta, rm_c, rv_c, 0.1, 1e-5);
      auto ref_out = ref().batch_norm_add_relu_forward_train(widened_plain(x), widened_plain(r),
                                                             gamma, beta, rm_r, rv_r, 0.1, 1e-5);
      CHECK(f.y.dtype() == DType::BFloat16);
      CHECK(onednn::desc_of(f.y) == desc);
      CHECK_FALSE(f.relu_mask.defined());
      expect_close(widened_plain(f.y), widened_plain(composed.y), 0, "y against the composition");
      expect_close(f.save_mean, composed.save_mean, 0, "mean");
      expect_close(f.save_var, composed.save_var, 0, "variance");
      expect_close(rm_f, rm_c, 0, "running mean");
      expect_close(rv_f, rv_c, 0, "running variance");
      expect_close(widened_plain(f.y), ref_out.y, 1.6e-2, "y against the reference (bf16)");
      auto y = widened_plain(f.y).to_vector();
      CHECK(*std::min_element(y.begin(), y.end()) == 0.0);  // the ReLU acted
    }
  // float32 in the blocked layout a convolution hands over: the composition.
  Tensor x = fast().conv2d_forward(rnd({2, 16, 5, 5}, 5), rnd({16, 16, 3, 3}, 6), Tensor(), {1, 1});
  Tensor r = rnd(x.shape(), 7), gamma = e::add(rnd({16}, 8), 1.5), beta = rnd({16}, 9);
  CHECK_FALSE(onednn::batch_norm_add_relu_fuses(x, r, gamma, beta));
  auto f =
      fast().batch_norm_add_relu_forward_train(x, r, gamma, beta, Tensor(), Tensor(), 0.1, 1e-5);
  auto ref_out = ref().batch_norm_add_relu_forward_train(e::to_strided(x), r, gamma, beta, Tensor(),
                                                         Tensor(), 0.1, 1e-5);
  expect_close(f.y, ref_out.y, 1e-5, "float32");
}

TEST_CASE("onednn.relu") {
  Tensor x = fast().conv2d_forward(rnd({2, 16, 5, 5}, 1), rnd({16, 16, 3, 3}, 2), Tensor(), {1, 1});
  for (Tensor in : {x, e::to_strided(x), rnd({7, 3}, 3)}) {
    Tensor y = fast().relu_forward(in);
    expect_close(y, ref().relu_forward(e::to_strided(in)), 0);
    Tensor g = rnd(in.shape(), 4);
    expect_close(fast().relu_backward(g, y), ref().relu_backward(g, e::to_strided(y)), 0);
  }
}

// The residual join in one pass: the values of the reference's sum-then-ReLU (tolerance 0),
// in float32 (plain and in the blocked layout a convolution hands over) and in bf16 (NHWC, as
// the AMX convolutions hand it over, and plain).
TEST_CASE("onednn.add_relu") {
  Tensor x = fast().conv2d_forward(rnd({2, 16, 5, 5}, 1), rnd({16, 16, 3, 3}, 2), Tensor(), {1, 1});
  Tensor other = rnd(x.shape(), 3);
  auto nhwc = [](const Tensor& t) { return onednn::in_layout(t, onednn::nhwc_bf16(t.shape())); };
  Tensor a16 = e::to(e::to_strided(x), DType::BFloat16), b16 = e::to(other, DType::BFloat16);
  std::vector<std::pair<Tensor, Tensor>> pairs{{x, other},
                                               {e::to_strided(x), other},
                                               {rnd({7, 3}, 4), rnd({7, 3}, 5)},
                                               {a16, b16},
                                               {nhwc(a16), b16}};
  for (const auto& operands : pairs) {
    const Tensor &a = operands.first, &b = operands.second;  // clang 14 cannot capture bindings
    std::string layout = a.layout() ? a.layout()->name() : std::string("strided");
    CAPTURE(layout);
    Tensor want = ref().add_relu_forward(e::to_strided(a), b);
    Tensor got = e::add_relu_forward(a, b);
    CHECK(got.dtype() == a.dtype());
    expect_close(e::to(e::to_strided(got), DType::Float32), e::to(want, DType::Float32), 0);
  }
  CHECK_THROWS_WITH_AS(e::add_relu_forward(rnd({2, 3}, 1), rnd({3}, 2)),
                       doctest::Contains("no broadcasting"), Error);
}

TEST_CASE("onednn.max_pool2d") {
  for (auto [s, o] : std::vector<std::pair<Shape, Pool2dOptions>>{{{2, 16, 8, 8}, {2, 2, 0}},
                                                                  {{2, 64, 16, 16}, {3, 2, 1}},
                                                                  {{1, 3, 7, 9}, {3, 2, 1}},
                                                                  {{1, 2, 5, 5}, {2, 2, 0}}}) {
    std::string shape = shape_str(s);  // a named copy: clang 14 lambdas cannot capture bindings
    CAPTURE(shape);
    Tensor x = rnd(s, 1);
    auto f = fast().max_pool2d_forward(x, o);
    auto r = ref().max_pool2d_forward(x, o);
    expect_close(f.y, r.y, 0);
    Tensor g = rnd(r.y.shape(), 2);
    // Overlapping windows add gradients in a different order: float rounding only.
    expect_close(fast().max_pool2d_backward(g, f.indices, s, o),
                 ref().max_pool2d_backward(g, r.indices, s, o), 1e-6);
  }
}

TEST_CASE("onednn.avg_pool2d") {
  for (auto [s, o] : std::vector<std::pair<Shape, Pool2dOptions>>{
           {{2, 16, 8, 8}, {2, 2, 0}}, {{1, 8, 4, 4}, {4, 1, 0}}, {{1, 3, 7, 9}, {3, 2, 1}}}) {
    std::string shape = shape_str(s);  // a named copy: clang 14 lambdas cannot capture bindings
    CAPTURE(shape);
    Tensor x = rnd(s, 1);
    expect_close(fast().avg_pool2d_forward(x, o), ref().avg_pool2d_forward(x, o), 1e-6);
    Tensor g = rnd(engine::pool2d_output_shape(s, o), 2);
    expect_close(fast().avg_pool2d_backward(g, s, o), ref().avg_pool2d_backward(g, s, o), 1e-6);
  }
}

TEST_CASE("onednn.elementwise") {
  Tensor a = rnd({3, 40000}, 1), b = rnd({3, 40000}, 2);  // large enough to run threaded
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Maximum,
                      BinaryOp::Greater})
    expect_close(fast().binary(op, a, b), ref().binary(op, a, b), 1e-7);
  Tensor s = Tensor::scalar(0.5);
  expect_close(fast().binary(BinaryOp::Mul, a, s), ref().binary(BinaryOp::Mul, a, s), 0);
  expect_close(fast().binary(BinaryOp::Add, s, a), ref().binary(BinaryOp::Add, s, a), 0);
  Tensor row = rnd({40000}, 3);
  expect_close(fast().binary(BinaryOp::Add, a, row), ref().binary(BinaryOp::Add, a, row), 0);
  // Signed inputs with exact zeros for the ops defined everywhere; positive ones for log, sqrt.
  Tensor signed_zeros = e::where(e::gt(e::abs(a), 0.1), a, Tensor::zeros(a.shape()));
  Tensor pos = e::add(e::abs(a), 0.1);
  for (UnaryOp op : {UnaryOp::Exp, UnaryOp::Abs, UnaryOp::Neg, UnaryOp::Sign})
    expect_close(fast().unary(op, signed_zeros), ref().unary(op, signed_zeros),
                 1e-5);  // oneDNN's exp is polynomial
  for (UnaryOp op : {UnaryOp::Log, UnaryOp::Sqrt})
    expect_close(fast().unary(op, pos), ref().unary(op, pos), 1e-5);
  auto sign = fast().unary(UnaryOp::Sign, t({-2, 0, 3}, {3})).to_vector();
  CHECK(sign == std::vector<double>{-1, 0, 1});
  auto abs = fast().unary(UnaryOp::Abs, t({-2, 0, 3}, {3})).to_vector();
  CHECK(abs == std::vector<double>{2, 0, 3});
  // Blocked operands: residual add and gradient accumulation.
  Tensor x = fast().conv2d_forward(rnd({2, 16, 5, 5}, 4), rnd({16, 16, 3, 3}, 5), Tensor(), {1, 1});
  Tensor sum = fast().binary(BinaryOp::Add, x, x);
  CHECK_FALSE(sum.is_strided());
  expect_close(sum, e::mul(e::to_strided(x), 2.0), 0);
  expect_close(fast().binary(BinaryOp::Add, x, e::to_strided(x)), sum, 0);  // mixed layouts
  // One-element operands of different shapes ([1] and a 0-d scalar): once recursed forever.
  Tensor one = t({3}, {1}), scalar = Tensor::scalar(0.5);
  for (BinaryOp op : {BinaryOp::Mul, BinaryOp::Add, BinaryOp::Sub})
    for (auto [x, y] : {std::pair{one, scalar}, std::pair{scalar, one}})
      expect_close(fast().binary(op, x, y), ref().binary(op, x, y), 0, "one-element operands");
  Tensor acc = e::clone(a);
  fast().binary_inplace(BinaryOp::Add, acc, b);
  expect_close(acc, ref().binary(BinaryOp::Add, a, b), 0);
  // Broadcasting operands (oneDNN's binary primitive): per-row scalars as in the cosine loss,
  // per-column vectors, a middle axis, either side for the commutative ops; the same bits as
  // the reference (one IEEE operation per element). Pow and a broadcasting first operand of a
  // non-commutative op go to the reference kernel.
  struct Pair {
    Shape a, b;
  };
  for (const Pair& p : std::vector<Pair>{{{64, 2048}, {64, 1}},
                                         {{64, 2048}, {2048}},
                                         {{64, 2048}, {1, 2048}},
                                         {{4, 3, 5}, {1, 3, 1}},
                                         {{64, 1}, {64, 2048}},
                                         {{5}, {3, 1}}}) {
    std::string shapes = shape_str(p.a) + " op " + shape_str(p.b);
    CAPTURE(shapes);
    Tensor x = rnd(p.a, 8), y = e::add(e::abs(rnd(p.b, 9)), 0.5);
    for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow})
      expect_close(fast().binary(op, op == BinaryOp::Pow ? e::abs(x) : x, y),
                   ref().binary(op, op == BinaryOp::Pow ? e::abs(x) : x, y), 0, "broadcast");
  }
  // Expanded operands (stride-0 views of the other's shape, as the gradient of a sum is spread
  // back) take the broadcasting kernels as their compact form; either side, both expanded, and
  // an expanded view of a transposed tensor (whose compact form is not contiguous).
  Tensor full = rnd({64, 2048}, 10);
  Tensor per_row = e::expand(e::add(e::abs(rnd({64, 1}, 11)), 0.5), {64, 2048});
  Tensor per_column = e::expand(e::add(e::abs(rnd({1, 2048}, 12)), 0.5), {64, 2048});
  Tensor transposed = e::expand(e::transpose(rnd({3, 1, 5}, 13), 0, 2), {5, 4, 3});
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Maximum,
                      BinaryOp::Minimum})
    for (auto [x, y] :
         {std::pair{full, per_row}, std::pair{per_row, full}, std::pair{full, per_column},
          std::pair{per_column, full}, std::pair{per_row, per_column},
          std::pair{rnd({5, 4, 3}, 14), transposed}, std::pair{transposed, rnd({5, 4, 3}, 15)}}) {
      std::string shapes = shape_str(x.shape()) + " op " + shape_str(y.shape());
      CAPTURE(shapes);
      expect_close(fast().binary(op, x, y), ref().binary(op, x, y), 0, "expanded operand");
    }
}

TEST_CASE("onednn.matmul") {
  Tensor a = rnd({33, 70}, 1), b = rnd({70, 45}, 2);
  expect_close(fast().matmul(a, b), ref().matmul(a, b), 1e-5);
  Tensor bt = e::transpose(rnd({45, 70}, 3), 0, 1);  // Linear's W^T, as a strided view
  expect_close(fast().matmul(a, bt), ref().matmul(a, bt), 1e-5);
  Tensor a3 = rnd({4, 5, 6}, 4), b3 = rnd({4, 6, 7}, 5);
  expect_close(fast().matmul(a3, b3), ref().matmul(a3, b3), 1e-5);
}

// bf16 products (the SSL heads under --precision bf16): float32 sums of bf16 operands, rounded
// to bf16 once, as the reference kernel's double sums are. Runs on every tier: oneDNN's bf16
// matmul where bf16 dot products are native, else its fp32 one on the same operands (CMake runs
// this case under SG_BF16_CONV=native and fp32 too). Each element within one bf16 step of the
// reference's, which rounds the exact sum: the two sums differ only in float32 rounding.
// weight_to: a weight rounded to bf16 once per version (the SSL heads' Linear weights, read
// once per view): the same tensor while the weight is unchanged, new values after an optimizer
// step or any in-place write, and a transposed view of the same storage its own matrix.
TEST_CASE("onednn.weight_to_follows_the_weight_version") {
  Tensor w = rnd({48, 32}, 1), m = Tensor::zeros({48, 32});
  auto same_bits_as_to = [](const Tensor& converted, const Tensor& from) {
    return e::to_strided(e::to(converted, DType::Float32)).to_vector() ==
           e::to_strided(e::to(e::to(from, DType::BFloat16), DType::Float32)).to_vector();
  };
  Tensor first = e::weight_to(w, DType::BFloat16);
  CHECK(first.dtype() == DType::BFloat16);
  CHECK(same_bits_as_to(first, w));
  CHECK(e::weight_to(w, DType::BFloat16).storage() == first.storage());  // kept
  e::sgd_update(w, rnd({48, 32}, 2), m, 0.5, 0.9, 0.0, false, 1.0);
  Tensor after_step = e::weight_to(w, DType::BFloat16);
  CHECK(same_bits_as_to(after_step, w));
  CHECK_FALSE(same_bits_as_to(first, w));
  e::mul_(w, 2.0);
  CHECK(same_bits_as_to(e::weight_to(w, DType::BFloat16), w));
  Tensor wt = e::transpose(w, 0, 1);
  Tensor converted_t = e::weight_to(wt, DType::BFloat16);
  CHECK(converted_t.shape() == Shape{32, 48});
  CHECK(same_bits_as_to(converted_t, wt));
  CHECK(e::weight_to(w, DType::Float32).storage() == w.storage());  // nothing to convert
}

TEST_CASE("onednn.matmul_bf16") {
  auto bf = [](const Tensor& t) { return e::to(t, DType::BFloat16); };
  Tensor a = bf(rnd({33, 70}, 1)), b = bf(rnd({70, 45}, 2));
  Tensor at = e::transpose(bf(rnd({70, 33}, 3)), 0, 1);  // dy^T for a weight gradient
  Tensor bt = e::transpose(bf(rnd({45, 70}, 4)), 0, 1);  // Linear's W^T
  for (auto [x, y] : {std::pair{a, b}, std::pair{a, bt}, std::pair{at, b}, std::pair{at, bt}}) {
    Tensor fast_out = fast().matmul(x, y), ref_out = ref().matmul(x, y);
    REQUIRE(fast_out.dtype() == DType::BFloat16);
    auto f = e::to_strided(e::to(fast_out, DType::Float32)).to_vector();
    auto r = e::to_strided(e::to(ref_out, DType::Float32)).to_vector();
    int exact = 0;
    for (size_t i = 0; i < f.size(); ++i) {
      CHECK(std::abs(f[i] - r[i]) <= std::ldexp(std::abs(r[i]), -7) + 1e-30);
      exact += f[i] == r[i];
    }
    CHECK(exact >= int(f.size()) * 9 / 10);  // a step apart only where float32 rounding tips it
  }
}

// relu_backward_of_sum in one pass: the bits of the composition it fuses (binary add, then
// relu_backward) on every layout the step hands it: bf16 NHWC from an AMX convolution (on other
// tiers the layout oneDNN picks there), float32 blocked and plain, a gradient in another layout
// than y (reordered first), and padded blocks (the composition itself).
TEST_CASE("onednn.relu_backward_of_sum") {
  auto conv_out = [](DType dtype, int64_t c, uint64_t seed) {
    Tensor x = e::to(rnd({4, 16, 6, 6}, seed), dtype),
           w = e::to(rnd({c, 16, 3, 3}, seed + 1), dtype);
    return fast().conv2d_forward(x, w, Tensor(), {1, 1});
  };
  struct Case {
    const char* name;
    Tensor g1, g2, y;
  };
  auto relu_of = [](const Tensor& t) { return fast().relu_forward(t); };
  std::vector<Case> cases{
      {"bf16, conv layout", conv_out(DType::BFloat16, 32, 1), conv_out(DType::BFloat16, 32, 3),
       relu_of(conv_out(DType::BFloat16, 32, 5))},
      {"fp32, conv layout", conv_out(DType::Float32, 32, 1), conv_out(DType::Float32, 32, 3),
       relu_of(conv_out(DType::Float32, 32, 5))},
      {"fp32, plain", rnd({5, 7, 3}, 1), rnd({5, 7, 3}, 2), relu_of(rnd({5, 7, 3}, 3))},
      {"fp32, g1 plain, y blocked", e::to_strided(conv_out(DType::Float32, 32, 1)),
       conv_out(DType::Float32, 32, 3), relu_of(conv_out(DType::Float32, 32, 5))},
      {"fp32, padded blocks", conv_out(DType::Float32, 20, 1), conv_out(DType::Float32, 20, 3),
       relu_of(conv_out(DType::Float32, 20, 5))}};
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Tensor fused = fast().relu_backward_of_sum(c.g1, c.g2, c.y);
    Tensor composed = fast().relu_backward(fast().binary(BinaryOp::Add, c.g1, c.g2), c.y);
    CHECK(same_bits(fused, composed));
    // And the reference's composition, in float32 on the same values.
    auto plain32 = [](const Tensor& t) { return e::to(e::to_strided(t), DType::Float32); };
    Tensor ref_out = ref().relu_backward(ref().binary(BinaryOp::Add, plain32(c.g1), plain32(c.g2)),
                                         plain32(c.y));
    expect_close(fused, ref_out, c.y.dtype() == DType::BFloat16 ? 1.0 / 128 : 0.0, c.name);
  }
}

TEST_CASE("onednn.copy") {
  Tensor x = fast().conv2d_forward(rnd({2, 16, 5, 5}, 1), rnd({16, 16, 3, 3}, 2), Tensor(), {1, 1});
  Tensor plain = fast().to_strided(x);
  CHECK(plain.is_contiguous());
  Tensor back = onednn::in_layout(plain, onednn::desc_of(x));
  expect_close(back, plain, 0);
  Tensor t = e::transpose(rnd({5, 7}, 3), 0, 1);
  Tensor dst = Tensor::empty({7, 5});
  fast().copy(dst, t);
  expect_close(dst, ref().unary(UnaryOp::Neg, ref().unary(UnaryOp::Neg, t)), 0);
  Tensor bf = Tensor::empty({7, 5}, DType::BFloat16);
  fast().copy(bf, dst);
  Tensor f32 = Tensor::empty({7, 5});
  fast().copy(f32, bf);
  expect_close(f32, dst, 1e-2);  // bfloat16 keeps 8 bits of mantissa
  Tensor filled = Tensor::empty({3, 40000});
  fast().fill(filled, 2.5);
  for (double v : {filled.at({0, 0}), filled.at({2, 39999})}) CHECK(v == 2.5);
}

// The conversion loops run as the CPU's widest clone (AVX-512, AVX2 or baseline); their bits
// must be the reference's round-to-nearest-even on every value class, in the vector body and
// in the tail (an odd length above the size where two threads split the work).
TEST_CASE("onednn.copy_rounds_to_bf16_like_the_reference") {
  const float specials[] = {
      1.0f + 0x1p-8f,            // halfway: ties to even, down to 1
      1.0f + 0x1p-7f + 0x1p-8f,  // halfway: ties to even, up
      -0.0f,
      0x1p-130f,  // subnormal
      3.4e38f,    // rounds to infinity
      -std::numeric_limits<float>::infinity(),
      std::bit_cast<float>(0x7fffffffu),  // a NaN that plain rounding would carry into -0
      65504.5f};
  const int64_t n = 70001;
  Tensor x = rnd({n}, 7);
  float* xs = x.data<float>();
  for (int64_t i = 0; i < n; i += 997) xs[i] = specials[(i / 997) % std::size(specials)];
  for (int64_t k = 0; k < 8; ++k) xs[n - 8 + k] = specials[k];
  Tensor fast_bf = Tensor::empty({n}, DType::BFloat16),
         ref_bf = Tensor::empty({n}, DType::BFloat16);
  fast().copy(fast_bf, x);
  ref().copy(ref_bf, x);
  CHECK(std::memcmp(fast_bf.raw_data(), ref_bf.raw_data(), size_t(n) * 2) == 0);
  Tensor fast_back = Tensor::empty({n}), ref_back = Tensor::empty({n});
  fast().copy(fast_back, fast_bf);
  ref().copy(ref_back, ref_bf);
  CHECK(std::memcmp(fast_back.raw_data(), ref_back.raw_data(), size_t(n) * 4) == 0);
  // 1 + 2^-8 lies halfway between two bf16 values and rounds to the even one, 1.
  CHECK(fast_back.data<float>()[0] == 1.0f);
  CHECK(std::isnan(fast_back.data<float>()[n - 2]));  // specials[6], in the tail
}

TEST_CASE("onednn.is_the_default_cpu_backend") {
  CHECK(backend_for(Device::cpu()).name() == "onednn");
  {
    ReferenceKernelsGuard guard;
    CHECK(backend_for(Device::cpu()).name() == "reference");
  }
  CHECK(backend_for(Device::cpu()).name() == "onednn");
}

// Full sums and means of large contiguous float32 tensors take the threaded kernel (double
// accumulator); everything else falls through to the reference, also checked here.
TEST_CASE("onednn.reduce") {
  Tensor big = e::add(rnd({3, 40000}, 20), 0.25);  // 120,000 elements: the fast path
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean}) {
    expect_close(fast().reduce(op, big, {0, 1}, false), ref().reduce(op, big, {0, 1}, false), 1e-6,
                 "full reduction");
    Tensor kept = fast().reduce(op, big, {0, 1}, true);
    CHECK(kept.shape() == Shape{1, 1});
  }
  Tensor small = rnd({5, 7}, 21);
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min})
    for (std::vector<int64_t> dims : {std::vector<int64_t>{0}, {1}, {0, 1}})
      expect_close(fast().reduce(op, small, dims, false), ref().reduce(op, small, dims, false),
                   1e-6, "partial reduction");
  expect_close(fast().reduce(ReduceOp::Max, big, {0, 1}, false),
               ref().reduce(ReduceOp::Max, big, {0, 1}, false), 0, "max");
  // Blocks of adjacent dimensions, as a training step reduces (global average pool, row sums of
  // the cosine loss, bias gradients), threaded and not, with an inner extent that is not a
  // multiple of the kernel's 256-wide runs; and a scattered pair, which the reference handles.
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
  };
  for (const Case& c : std::vector<Case>{{{64, 512, 4, 4}, {2, 3}},
                                         {{64, 2048}, {1}},
                                         {{64, 2048}, {0}},
                                         {{3, 5, 7, 300}, {1, 2}},
                                         {{2, 3, 4}, {0, 1, 2}},
                                         {{4, 3, 5}, {0, 2}},
                                         {{0, 6}, {1}}}) {
    Tensor x = e::add(rnd(c.shape, 22), 0.5);
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean})
      for (bool keepdim : {false, true}) {
        Tensor got = fast().reduce(op, x, c.dims, keepdim);
        Tensor want = ref().reduce(op, x, c.dims, keepdim);
        CHECK(got.shape() == want.shape());
        expect_close(got, want, 1e-6, (shape_str(c.shape) + " block reduction").c_str());
      }
  }
}

TEST_CASE("onednn.sgd_update") {
  for (bool nesterov : {false, true}) {
    CAPTURE(nesterov);
    Tensor p = rnd({70000}, 22), g = rnd({70000}, 23), buf = rnd({70000}, 24);
    Tensor pf = e::clone(p), bf = e::clone(buf);
    ref().sgd_update(p, g, buf, 0.1, 0.9, 5e-4, nesterov, 0.7);
    fast().sgd_update(pf, g, bf, 0.1, 0.9, 5e-4, nesterov, 0.7);
    expect_close(pf, p, 1e-6, "parameter");
    expect_close(bf, buf, 1e-6, "momentum buffer");
  }
}

TEST_CASE("onednn.ema_update") {
  Tensor t = rnd({70000}, 25), online = rnd({70000}, 26), tf = e::clone(t);
  ref().ema_update(t, online, 0.99);
  fast().ema_update(tf, online, 0.99);
  expect_close(tf, t, 1e-6, "target");
}
