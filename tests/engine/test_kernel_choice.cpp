// The run-time kernel choice (engine/onednn/kernel_choice.h) and the bf16 paths it selects:
// the table per CPU tier, bf16 ops against the float32 reference on whatever tier this machine
// is, and the hand-over between our Winograd kernels and oneDNN's layouts.
#include <doctest/doctest.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdio>
#include <cstdlib>

#include "engine/onednn/bf16_dot_rate.h"
#include "engine/onednn/context.h"
#include "engine/onednn/conv2d_winograd_bf16.h"
#include "engine/onednn/kernel_choice.h"
#include "engine/onednn/onednn_backend.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::expect_close;
namespace e = sg::engine;
namespace o = sg::onednn;

namespace {
Backend& fast() { return onednn_backend(); }
Backend& ref() { return reference_backend(); }

Tensor rnd(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return normal(s, 0, 1, g);
}
Tensor bf16(const Tensor& t) { return e::to(t, DType::BFloat16); }
Tensor f32(const Tensor& t) { return e::to_strided(e::to(t, DType::Float32)); }
std::vector<double> values(const Tensor& t) { return f32(t).to_vector(); }
}  // namespace

TEST_CASE("kernel_choice.table_follows_the_isa") {
  const o::KernelSwitches defaults;
  auto amx = o::choose_kernels({dnnl::cpu_isa::avx512_core_amx, true, 0.0}, defaults);
  CHECK(amx.tier == o::CpuTier::Amx);
  CHECK(amx.bf16_native);
  CHECK_FALSE(amx.bf16_conv_via_fp32);
  CHECK_FALSE(amx.winograd_bf16);  // AMX machines run oneDNN's AMX kernels, never a mix
  CHECK(amx.weight_grad_gemm);     // ... and small-output weight gradients as AMX matmuls
  CHECK(o::kernel_table_text(amx).find("im2col + oneDNN AMX matmul") != std::string::npos);
  CHECK_FALSE(
      o::choose_kernels({dnnl::cpu_isa::avx512_core_amx, true, 0.0}, {.weight_grad_gemm = false})
          .weight_grad_gemm);
  CHECK(amx.conv_gemm);  // ... and the other passes of 4x4, 512-channel layers
  CHECK(o::kernel_table_text(amx).find("output <= 4x4, >= 512 channels") != std::string::npos);
  auto amx_no_conv_gemm =
      o::choose_kernels({dnnl::cpu_isa::avx512_core_amx, true, 0.0}, {.conv_gemm = false});
  CHECK_FALSE(amx_no_conv_gemm.conv_gemm);
  CHECK(amx_no_conv_gemm.weight_grad_gemm);  // one switch each
  CHECK(o::kernel_table_text(amx_no_conv_gemm).find("as the first two conv2d rows") !=
        std::string::npos);
  CHECK_FALSE(
      o::choose_kernels({dnnl::cpu_isa::avx512_core_amx, true, 0.0}, {true, o::Bf16Conv::Fp32})
          .weight_grad_gemm);
  CHECK_FALSE(
      o::choose_kernels({dnnl::cpu_isa::avx512_core_amx, true, 0.0}, {true, o::Bf16Conv::Fp32})
          .conv_gemm);
  CHECK(amx.batch_norm_bf16);  // bf16 BatchNorm in the NHWC the AMX convolutions hand over: ours
  CHECK(o::kernel_table_text(amx).find("stopgrad AVX-512 BF16 kernels") != std::string::npos);
  CHECK_FALSE(
      o::choose_kernels({dnnl::cpu_isa::avx512_core_amx, true, 0.0}, {.batch_norm_bf16 = false})
          .batch_norm_bf16);
  // The products run our AMX tile kernel only where the process may use tiles.
  CHECK_FALSE(amx.amx_matmul);
  auto tiles = o::choose_kernels({dnnl::cpu_isa::avx512_core_amx, true, 0.0, true}, defaults);
  CHECK(tiles.amx_matmul);
  CHECK(o::kernel_table_text(tiles).find("stopgrad AMX tile product") != std::string::npos);
  // ... and so does backward data on the pixel grid, which has no oneDNN form.
  CHECK(o::kernel_table_text(tiles).find("shifted rows of dy") != std::string::npos);
  CHECK(o::kernel_table_text(amx).find("shifted rows of dy") == std::string::npos);
  CHECK_FALSE(
      o::choose_kernels({dnnl::cpu_isa::avx512_core_amx, true, 0.0, true}, {.amx_matmul = false})
          .amx_matmul);
  CHECK(o::choose_kernels({dnnl::cpu_isa::avx512_core_amx, true, 0.0, true}, {.conv_gemm = false})
            .amx_matmul);  // the weight-gradient products still use it
  CHECK_FALSE(o::choose_kernels({dnnl::cpu_isa::avx512_core_amx, true, 0.0, true},
                                {.weight_grad_gemm = false, .conv_gemm = false})
                  .amx_matmul);  // it runs those products, nothing else

  // AMD Zen 4/5: bf16 dot products at twice the fp32 FMA flop rate.
  auto zen4 = o::choose_kernels({dnnl::cpu_isa::avx512_core_bf16, true, 2.0}, defaults);
  CHECK(zen4.tier == o::CpuTier::Avx512Bf16);
  CHECK(zen4.winograd_bf16);
  CHECK_FALSE(zen4.bf16_conv_via_fp32);
  CHECK_FALSE(zen4.weight_grad_gemm);  // measured on AMX only
  CHECK_FALSE(zen4.conv_gemm);
  CHECK(zen4.batch_norm_bf16);  // in the nChw16c the convolutions hand over
  CHECK_FALSE(
      o::choose_kernels({dnnl::cpu_isa::avx512_core_bf16, true, 2.0}, {.batch_norm_bf16 = false})
          .batch_norm_bf16);
  CHECK_FALSE(
      o::choose_kernels({dnnl::cpu_isa::avx512_core_bf16, true, 2.0}, {false, o::Bf16Conv::Auto})
          .winograd_bf16);
  // DNNL_MAX_CPU_ISA may say avx512_core_bf16 where CPUID lacks it only in emulators; never
  // run our kernels on a CPU that cannot execute them.
  CHECK_FALSE(
      o::choose_kernels({dnnl::cpu_isa::avx512_core_bf16, false, 0.0}, defaults).winograd_bf16);

  // Intel Xeon without AMX: bf16 dot products at half the FMA rate, so bf16 convolutions run
  // the fp32 kernels while BatchNorm and the rest stay native bf16; SG_BF16_CONV overrides.
  auto xeon = o::choose_kernels({dnnl::cpu_isa::avx512_core_bf16, true, 0.49}, defaults);
  CHECK(xeon.tier == o::CpuTier::Avx512Bf16);
  CHECK(xeon.bf16_native);
  CHECK(xeon.bf16_conv_via_fp32);
  CHECK_FALSE(xeon.winograd_bf16);
  CHECK(o::kernel_table_text(xeon).find("fp32 kernels on bf16-rounded operands") !=
        std::string::npos);
  CHECK(o::kernel_table_text(xeon).find("below 1.4x (measured)") != std::string::npos);
  CHECK(o::bf16_dot_rate_line(xeon).find("0.49x") != std::string::npos);
  // The table (recorded in config.json and checkpoints) does not change with the measured
  // number, only with the side of the threshold it falls on.
  CHECK(o::kernel_table_text(xeon) ==
        o::kernel_table_text(
            o::choose_kernels({dnnl::cpu_isa::avx512_core_bf16, true, 0.53}, defaults)));
  CHECK(o::kernel_table_text(zen4) ==
        o::kernel_table_text(
            o::choose_kernels({dnnl::cpu_isa::avx512_core_bf16, true, 1.91}, defaults)));
  auto forced_native =
      o::choose_kernels({dnnl::cpu_isa::avx512_core_bf16, true, 0.49}, {true, o::Bf16Conv::Native});
  CHECK_FALSE(forced_native.bf16_conv_via_fp32);
  CHECK(forced_native.winograd_bf16);
  auto forced_fp32 =
      o::choose_kernels({dnnl::cpu_isa::avx512_core_bf16, true, 2.0}, {true, o::Bf16Conv::Fp32});
  CHECK(forced_fp32.bf16_conv_via_fp32);
  CHECK_FALSE(forced_fp32.winograd_bf16);
  CHECK(o::kernel_table_text(forced_fp32).find("SG_BF16_CONV=fp32") != std::string::npos);

  auto avx2 = o::choose_kernels({dnnl::cpu_isa::avx2, false, 0.0}, defaults);
  CHECK(avx2.tier == o::CpuTier::NoBf16);
  CHECK_FALSE(avx2.bf16_native);
  CHECK(avx2.bf16_conv_via_fp32);
  CHECK_FALSE(avx2.winograd_bf16);
  CHECK_FALSE(avx2.batch_norm_bf16);  // bf16 is emulated in float32 there
  // An avx512_core CPU without AVX-512 BF16 cannot execute our kernels.
  CHECK_FALSE(
      o::choose_kernels({dnnl::cpu_isa::avx512_core, false, 0.0}, defaults).batch_norm_bf16);
  CHECK(o::bf16_emulation_warning(avx2).find("emulated") != std::string::npos);
  CHECK(o::bf16_emulation_warning(zen4).empty());
  CHECK(o::bf16_emulation_warning(xeon).empty());

  // This process's choice agrees with the ISA oneDNN dispatches to.
  const auto& here = o::kernel_choice();
  dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  CHECK((here.tier == o::CpuTier::Amx) == (isa == dnnl::cpu_isa::avx512_core_amx));
  CHECK((here.tier == o::CpuTier::Avx512Bf16) == (isa == dnnl::cpu_isa::avx512_core_bf16));
  std::string table = o::kernel_table_text(here);
  MESSAGE("kernel choice on this machine:\n" << table);
  CHECK(table.find(here.isa) != std::string::npos);
}

// The probe behind the AVX-512 BF16 row: a plausible rate, and the same side of the threshold
// every time it is measured (a choice that flipped between runs would make runs differ).
TEST_CASE("kernel_choice.bf16_dot_rate_is_stable") {
  if (!o::avx512_bf16_usable()) {
    std::printf("SKIPPED: this CPU has no AVX-512 BF16 dot products to measure\n");
    std::exit(77);
  }
  double first = o::bf16_dot_rate_vs_fp32_fma();
  MESSAGE("bf16 dot-product flops / fp32 FMA flops: " << first);
  CHECK(first > 0.1);
  CHECK(first < 10);
  for (int i = 0; i < 5; ++i) {
    double again = o::bf16_dot_rate_vs_fp32_fma();
    CAPTURE(again);
    CHECK((again < o::kBf16DotRateThreshold) == (first < o::kBf16DotRateThreshold));
  }
}

// Every bf16 op a ResNet step runs, through the backend this machine chooses (native bf16,
// our Winograd kernels, or emulation), against the float32 reference on the same bf16-rounded
// inputs. bf16 keeps 8 mantissa bits: tolerance 1.5% of the largest magnitude, as for the
// Winograd kernels in test_onednn.cpp.
TEST_CASE("onednn.bf16_ops_on_this_cpu") {
  struct Case {
    Shape x, w;
    Conv2dOptions opt;
  };
  for (const Case& c : {Case{{2, 16, 8, 8}, {32, 16, 3, 3}, {1, 1}},   // 3x3 stride 1
                        Case{{2, 16, 8, 8}, {32, 16, 3, 3}, {2, 1}},   // downsampling 3x3
                        Case{{2, 16, 8, 8}, {32, 16, 1, 1}, {2, 0}},   // 1x1 shortcut
                        Case{{2, 3, 9, 9}, {16, 3, 3, 3}, {1, 1}}}) {  // stem
    std::string shapes = shape_str(c.x) + " * " + shape_str(c.w);
    CAPTURE(shapes);
    Tensor x = bf16(rnd(c.x, 1)), w = rnd(c.w, 2);
    Tensor y = fast().conv2d_forward(x, w, Tensor(), c.opt);
    CHECK(y.dtype() == DType::BFloat16);
    Tensor y_ref = ref().conv2d_forward(f32(x), w, Tensor(), c.opt);
    expect_close(f32(y), y_ref, 1.5e-2, "forward");
    Tensor g = bf16(rnd(y_ref.shape(), 3));
    Tensor dx = fast().conv2d_backward_data(g, w, c.x, c.opt);
    CHECK(dx.dtype() == DType::BFloat16);
    expect_close(f32(dx), ref().conv2d_backward_data(f32(g), w, c.x, c.opt), 1.5e-2, "data");
    Tensor dw = fast().conv2d_backward_weight(g, x, c.w, c.opt);
    CHECK(dw.dtype() == DType::Float32);
    expect_close(dw, ref().conv2d_backward_weight(f32(g), f32(x), c.w, c.opt), 1.5e-2, "weight");
  }

  // BatchNorm+ReLU, max pooling and a residual add on a convolution's (blocked) output.
  Tensor h =
      fast().conv2d_forward(bf16(rnd({4, 3, 8, 8}, 4)), rnd({16, 3, 3, 3}, 5), Tensor(), {1, 1});
  Tensor gamma = e::add(rnd({16}, 6), 2.0), beta = rnd({16}, 7);
  auto bn = fast().batch_norm_forward_train(h, gamma, beta, Tensor(), Tensor(), 0.1, 1e-5, true);
  auto bn_ref =
      ref().batch_norm_forward_train(f32(h), gamma, beta, Tensor(), Tensor(), 0.1, 1e-5, true);
  CHECK(bn.y.dtype() == DType::BFloat16);
  expect_close(f32(bn.y), bn_ref.y, 1.5e-2, "batch_norm_relu forward");
  Tensor gy = bf16(rnd({4, 16, 8, 8}, 8));
  auto grads =
      fast().batch_norm_backward(gy, h, gamma, bn.save_mean, bn.save_var, 1e-5, bn.relu_mask);
  auto grads_ref = ref().batch_norm_backward(f32(gy), f32(h), gamma, bn_ref.save_mean,
                                             bn_ref.save_var, 1e-5, bn_ref.relu_mask);
  expect_close(f32(grads.dx), grads_ref.dx, 1.5e-2, "batch_norm_relu backward");
  expect_close(grads.dbeta, grads_ref.dbeta, 1.5e-2, "batch_norm dbeta");

  auto pool = fast().max_pool2d_forward(bn.y, {3, 2, 1});
  CHECK(pool.y.dtype() == DType::BFloat16);
  expect_close(f32(pool.y), ref().max_pool2d_forward(f32(bn.y), {3, 2, 1}).y, 0, "max pool");
  Tensor sum = fast().binary(BinaryOp::Add, bn.y, h);
  CHECK(sum.dtype() == DType::BFloat16);
  expect_close(f32(sum), ref().binary(BinaryOp::Add, f32(bn.y), f32(h)), 1e-2, "add");
  Tensor r = fast().relu_forward(h);
  expect_close(f32(r), ref().relu_forward(f32(h)), 0, "relu");
}

// Where bf16 is emulated, each convolution is exactly the float32 kernel on bf16-rounded
// operands, rounded to bf16: the definition of what a native bf16 kernel computes.
// That is also what runs where bf16 dot products are slower than fp32 FMAs.
TEST_CASE("onednn.bf16_emulation_is_fp32_on_rounded_operands") {
  if (!o::kernel_choice().bf16_conv_via_fp32) {
    std::printf(
        "SKIPPED: this CPU (oneDNN isa %s) runs bf16 convolutions on bf16 kernels; none goes "
        "through the fp32 kernels here (SG_BF16_CONV=fp32 makes them)\n",
        o::kernel_choice().isa.c_str());
    std::exit(77);
  }
  Tensor x = bf16(rnd({2, 16, 8, 8}, 1)), w = rnd({16, 16, 3, 3}, 2);
  Tensor w_rounded = f32(bf16(w));
  Tensor y = fast().conv2d_forward(x, w, Tensor(), {1, 1});
  Tensor y32 = fast().conv2d_forward(f32(x), w_rounded, Tensor(), {1, 1});
  CHECK(values(y) == values(bf16(e::to_strided(y32))));
  Tensor g = bf16(rnd({2, 16, 8, 8}, 3));
  Tensor dx = fast().conv2d_backward_data(g, w, x.shape(), {1, 1});
  Tensor dx32 = fast().conv2d_backward_data(f32(g), w_rounded, x.shape(), {1, 1});
  CHECK(values(dx) == values(bf16(e::to_strided(dx32))));
  CHECK(values(fast().conv2d_backward_weight(g, x, w.shape(), {1, 1})) ==
        values(fast().conv2d_backward_weight(f32(g), f32(x), w.shape(), {1, 1})));
}

// Our Winograd kernels read nChw16c; whatever layout a tensor arrives in (plain, channels-last
// as AMX-era kernels and PyTorch hand over, another blocking), it is brought there by a oneDNN
// reorder, which is exact for bf16 -> bf16: the output is the same bits for every input layout,
// and a oneDNN op after it gets the same input in any layout.
TEST_CASE("onednn.bf16_winograd_handover_is_layout_exact") {
  if (!o::kernel_choice().winograd_bf16) {
    std::printf(
        "SKIPPED: the backend does not run our bf16 Winograd kernels on this CPU (tier "
        "%s)\n",
        o::tier_name(o::kernel_choice().tier));
    std::exit(77);
  }
  Shape s{2, 32, 6, 6};
  Tensor plain = bf16(rnd(s, 1)), w = rnd({32, 32, 3, 3}, 2);
  Tensor nhwc_storage = bf16(rnd({2, 6, 6, 32}, 1));
  e::copy_(nhwc_storage, e::permute(plain, {0, 2, 3, 1}));
  Tensor nhwc = e::permute(nhwc_storage, {0, 3, 1, 2});  // same values, channels last
  Tensor blocked16 = o::in_layout(plain, o::nchw16c_bf16(s));
  Tensor blocked8 =
      o::in_layout(plain, dnnl::memory::desc(o::dims(s), dnnl::memory::data_type::bf16,
                                             dnnl::memory::format_tag::nChw8c));
  auto expected = values(fast().conv2d_forward(plain, w, Tensor(), {1, 1}));
  for (const Tensor& in : {nhwc, blocked16, blocked8}) {
    std::string layout = in.is_strided() ? "channels last" : in.layout()->name();
    CAPTURE(layout);
    Tensor y = fast().conv2d_forward(in, w, Tensor(), {1, 1});
    CHECK(values(y) == expected);
    CHECK(values(fast().conv2d_backward_data(in, w, s, {1, 1})) ==
          values(fast().conv2d_backward_data(plain, w, s, {1, 1})));
    CHECK(values(fast().conv2d_backward_weight(in, in, w.shape(), {1, 1})) ==
          values(fast().conv2d_backward_weight(plain, plain, w.shape(), {1, 1})));
  }
  // A oneDNN op on our output, blocked or made plain first: the same bits.
  Tensor y = fast().conv2d_forward(plain, w, Tensor(), {1, 1});
  Tensor gamma = Tensor::ones({32}), beta = Tensor::zeros({32});
  auto a = fast().batch_norm_forward_train(y, gamma, beta, Tensor(), Tensor(), 0.1, 1e-5, false);
  auto b = fast().batch_norm_forward_train(fast().to_strided(y), gamma, beta, Tensor(), Tensor(),
                                           0.1, 1e-5, false);
  expect_close(f32(a.y), f32(b.y), 1e-2, "batch norm after Winograd");
  expect_close(a.save_mean, b.save_mean, 1e-6, "batch mean");
}
