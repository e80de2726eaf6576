#pragma once
// Which CPU kernel runs each op, decided once at run time from the CPU in one place: read this
// file to know what a step executes on a given machine. The table below is what
// `kernel_table()` returns (bench/train_step prints it, train_cifar10 records it in config.json).
//
// tier       oneDNN ISA        bf16 stride-1 3x3 conv        other bf16 conv   fp32 conv
// amx        avx512_core_amx   oneDNN AMX, layouts `any`     oneDNN AMX        oneDNN
//   ... bf16 backward data of stride-1 3x3 convolutions: oneDNN's forward kernel on the
//       turned weight, 1.2-1.4x faster than its backward-data kernel (conv2d.cpp)
//   ... bf16 weight gradients of outputs up to 8x8 and of 1x1 kernels: im2col + oneDNN's
//       AMX matmul (conv2d_backward_weight_gemm.h), 1.6-9x faster than its convolution there;
//       for 3x3 kernels with channels in multiples of 32, stopgrad's AMX tile kernel instead,
//       which also takes those of 16x16 outputs (in chunks of pixels); stride-1 3x3 ones and
//       stride-2 3x3 and 1x1 ones of 8x8 to 32x32 outputs skip im2col: shifted tile products on
//       the output's padded pixel grid (with stride 2, x in phases)
//   ... bf16 forward and backward data of outputs up to 4x4 with 512 channels or more: the
//       same (conv2d_gemm.h), 1.3-2.1x faster there; with channel counts that are multiples
//       of 32 the product runs stopgrad's AMX tile kernel (amx_matmul.h), 1.3-1.5x faster
//       than oneDNN's matmul on it
// avx512bf16 avx512_core_bf16  stopgrad Winograd F(2x2,3x3)  oneDNN direct     oneDNN
//   ... bf16 weight gradients of strided convolutions (stride-2 3x3 and 1x1): stopgrad's
//       per-tap products on AVX-512 BF16 (conv2d_backward_weight_bf16.h), 1.3-2.1x faster
//       than oneDNN 2.6 in the step on AMD Zen 5
//   ... where bf16 dot products are slower than fp32 FMAs (measured, bf16_dot_rate.h):
//                              fp32 kernels on bf16-rounded operands (as no-bf16 below)
// no-bf16    avx512_core, avx2 emulated: bf16-rounded operands through the fp32 kernels
// (fp32 stride-1 3x3 convolutions use oneDNN's Winograd F(4x4,3x3) where it has one.)
//
// BatchNorm(+ReLU), ReLU, residual adds and pooling run oneDNN's kernels in whatever layout the
// convolution before them chose, on every tier, except bf16 BatchNorm(+ReLU) in training where
// the CPU has AVX-512 BF16 (the amx and avx512bf16 tiers), which runs ours (batch_norm_bf16.h)
// with a residual block's add and ReLU in its normalising pass: on the amx tier the
// convolutions hand over NHWC, where oneDNN 2.6's BatchNorm runs 1.7-2.5x slower than in its
// blocked layout and ours near the blocked one; in nChw16c the fused join saves the add's pass.
// matmul is oneDNN's: fp32, and bf16 for the SSL heads' products with bf16 images (on bf16 kernels
// where convolutions run them, else its fp32 kernel on the bf16 operands).
//
// Why AMX machines do not run our Winograd kernels: oneDNN's AMX convolutions are faster
// there (forward 2.7, backward data 2.2 TFLOP/s on ResNet-18's 3x3 shapes on a 2-core Xeon
// slice with AMX). The mix of the two families once failed the mixed-precision test's bound
// (bn1.bias cosine 0.762 < 0.8); measured on an AMX Xeon, that is within the seed-to-seed
// spread of every family, all-AMX included (bench/bf16_agreement; docs/PERFORMANCE.md,
// "Kernel choice per CPU"), not a hand-over defect.
// Why some AVX-512 BF16 CPUs run bf16 convolutions through the fp32 kernels: on Intel Xeons
// without AMX `vdpbf16ps` delivers half the flops of the fp32 FMAs (0.50x measured on an
// Emerald Rapids slice), so every bf16 convolution kernel, ours or oneDNN's, loses
// to oneDNN's fp32 one there (docs/PERFORMANCE.md); BatchNorm, ReLU, adds and pooling stay
// native bf16, which halves their memory traffic. On AMD Zen 5 the probe measures 2.00x
// (Zen 4's earlier vdpbf16ps measurements say the same there).
// Why no-bf16 CPUs emulate instead of failing: oneDNN 2.6 has no bf16 convolution below
// AVX-512, and bf16 runs should still compute the same thing everywhere (bf16 operands,
// float32 accumulation, bf16 results); it is no faster than fp32 there, and the programs say so.
//
// Environment switches (read once; recorded with the table):
//   DNNL_MAX_CPU_ISA  oneDNN's own cap on the ISA, e.g. AVX512_CORE_BF16 on an AMX machine
//                     selects the avx512bf16 row (ours is read back from oneDNN, so they agree)
//   SG_WINOGRAD_BF16=0  our Winograd kernels off: the avx512bf16 row uses oneDNN's direct ones
//   SG_STRIDED_WGRAD_BF16=0  the avx512bf16 row computes the weight gradients of strided
//                     convolutions with oneDNN's direct kernel, not ours
//   SG_CONV_WEIGHT_GEMM=0  the amx row computes every bf16 weight gradient with oneDNN's
//                     convolution (no im2col + matmul)
//   SG_CONV_GEMM=0    the amx row runs every bf16 forward and backward-data convolution on
//                     oneDNN's convolution kernels for that pass (no im2col + matmul, and
//                     backward data not as a forward convolution on the turned weight)
//   SG_BN_BF16=0      bf16 BatchNorm in training runs oneDNN's kernels (and the residual join
//                     oneDNN's add) on every tier
//   SG_AMX_MATMUL=0   the amx row's im2col products (forward, backward data, weight
//                     gradient) run oneDNN's matmul, not amx_matmul.h
//   SG_BF16_CONV      native | fp32 | auto (unset): bf16 convolutions on bf16 kernels, or on
//                     the fp32 kernels with bf16-rounded operands; auto decides from the
//                     measured bf16 dot-product rate
#include <oneapi/dnnl/dnnl.hpp>

#include <string>
#include <utility>
#include <vector>

namespace sg::onednn {

enum class CpuTier { Amx, Avx512Bf16, NoBf16 };

// Below this rate bf16 convolutions run on the fp32 kernels. A bf16 kernel must do more than
// match fp32's flop rate: our bf16 Winograd F(2x2,3x3) saves 2.25x of the multiplies, oneDNN's
// fp32 F(4x4,3x3) 4x, so on multiplies alone they tie near 1.8; at Zen 5's 2 the bf16 step was
// 1.5x the fp32 one (bf16 also halves memory traffic). The threshold sits between the CPUs
// measured, at their geometric mean: about 0.5 (Intel without AMX; a CPU issuing one
// vdpbf16ps a cycle beside two FMAs, 1.0, falls below too) and about 2 (AMD Zen 4/5).
constexpr double kBf16DotRateThreshold = 1.4;

// What the choice depends on: facts about the CPU...
struct CpuFacts {
  dnnl::cpu_isa isa;       // what oneDNN dispatches to (after DNNL_MAX_CPU_ISA)
  bool avx512_bf16;        // CPUID: our kernels can execute
  double bf16_dot_rate;    // bf16_dot_rate_vs_fp32_fma(); 0 where not measured
  bool amx_tiles = false;  // amx::usable(): AMX tile instructions granted to this process
};
// ...and the environment switches (see the top of this file).
enum class Bf16Conv { Auto, Native, Fp32 };
struct KernelSwitches {
  bool winograd_bf16 = true;  // SG_WINOGRAD_BF16 not 0
  Bf16Conv bf16_conv = Bf16Conv::Auto;
  bool weight_grad_gemm = true;     // SG_CONV_WEIGHT_GEMM not 0
  bool conv_gemm = true;            // SG_CONV_GEMM not 0
  bool batch_norm_bf16 = true;      // SG_BN_BF16 not 0
  bool amx_matmul = true;           // SG_AMX_MATMUL not 0
  bool strided_weight_grad = true;  // SG_STRIDED_WGRAD_BF16 not 0
};

struct KernelChoice {
  CpuTier tier;
  std::string isa;          // oneDNN's name for the ISA it dispatches to
  bool bf16_native;         // oneDNN has bf16 kernels for this ISA (BatchNorm, ReLU, ... run them)
  double bf16_dot_rate;     // as measured (0: not measured)
  bool bf16_conv_via_fp32;  // bf16 convolutions (and matmuls) run the fp32 kernels on bf16 operands
  bool winograd_bf16;       // our bf16 Winograd kernels run the stride-1 3x3 convolutions
  bool strided_weight_grad_bf16;  // ours run the weight gradients of strided convolutions
  bool weight_grad_gemm;          // small-output bf16 weight gradients run im2col + AMX matmul
  bool conv_gemm;                 // bf16 forward and backward data of 4x4, 512-channel layers too
  bool batch_norm_bf16;           // bf16 BatchNorm in training runs batch_norm_bf16.h
  bool amx_matmul;                // the conv_gemm and 3x3 weight-gradient products run amx_matmul.h
};

// The choice for this process (computed on first use, then fixed). An unknown SG_BF16_CONV
// value is an error naming the variable.
const KernelChoice& kernel_choice();

// Whether this CPU executes the files compiled for AVX-512 BF16 (engine/CMakeLists.txt lists
// them: our Winograd kernels, the bf16 BatchNorm, the one-pass ReLU backward, the dot-rate
// probe); each caller asks before calling into them.
bool avx512_bf16_usable();

// The choice for given CPU facts and switches (for tests).
KernelChoice choose_kernels(const CpuFacts& cpu, const KernelSwitches& switches);

const char* tier_name(CpuTier tier);

// (op and pass, kernel) rows for the choice; the first rows name the tier and ISA.
std::vector<std::pair<std::string, std::string>> kernel_table(const KernelChoice& c);
// The table as aligned text lines, for programs to print.
std::string kernel_table_text(const KernelChoice& c);
// The measured dot-product rate as a line for programs to print; empty when not measured.
std::string bf16_dot_rate_line(const KernelChoice& c);
// A one-line warning when bf16 would be emulated on this CPU; empty when it is native.
std::string bf16_emulation_warning(const KernelChoice& c);

// The environment switches that change kernel choices, with their values ("" when unset).
std::vector<std::pair<std::string, std::string>> kernel_switches();

}  // namespace sg::onednn
