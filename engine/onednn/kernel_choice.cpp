#include "engine/onednn/kernel_choice.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/error.h"
#include "engine/onednn/amx_matmul.h"
#include "engine/onednn/bf16_dot_rate.h"
#include "engine/onednn/conv2d_winograd_bf16.h"

namespace sg::onednn {

namespace {

std::string isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::sse41:
      return "sse41";
    default:
      return "isa " + std::to_string(int(isa));
  }
}

const char* env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// A switch that is on unless set to 0.
bool switched_on(const char* name) { return std::strcmp(env_or_empty(name), "0") != 0; }

Bf16Conv bf16_conv_switch() {
  std::string v = env_or_empty("SG_BF16_CONV");
  if (v.empty() || v == "auto") return Bf16Conv::Auto;
  if (v == "native") return Bf16Conv::Native;
  if (v == "fp32") return Bf16Conv::Fp32;
  SG_CHECK(false, "SG_BF16_CONV='", v, "': expected native, fp32 or auto");
}

// A measured rate below the threshold (0: not measured).
bool slow_bf16_dots(double rate) { return rate > 0 && rate < kBf16DotRateThreshold; }

}  // namespace

// Here, not in the files it guards: they are compiled for AVX-512 BF16 CPUs only.
bool avx512_bf16_usable() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512bf16");
}

// Here too: amx_matmul.cpp is compiled for AMX CPUs only.
bool amx::usable() {
  static const bool usable = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool amx_bf16 = d & (1u << 22), amx_tile = d & (1u << 24);
    // Linux hands a process the 8 KB tile state only on request (as oneDNN also asks).
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureTileData = 18;
    return amx_bf16 && amx_tile &&
           syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureTileData) == 0;
  }();
  return usable;
}

bool amx::fits_conv_weight(const Shape& w_shape) {
  return kernel_choice().amx_matmul && w_shape[0] % 32 == 0 && w_shape[1] % 32 == 0;
}

KernelChoice choose_kernels(const CpuFacts& cpu, const KernelSwitches& switches) {
  KernelChoice c;
  c.isa = isa_name(cpu.isa);
  c.tier = cpu.isa == dnnl::cpu_isa::avx512_core_amx    ? CpuTier::Amx
           : cpu.isa == dnnl::cpu_isa::avx512_core_bf16 ? CpuTier::Avx512Bf16
                                                        : CpuTier::NoBf16;
  c.bf16_native = c.tier != CpuTier::NoBf16;
  c.bf16_dot_rate = cpu.bf16_dot_rate;
  // AMX tiles are not the dot products measured here; the AVX-512 BF16 tier follows the rate.
  bool slow_dots = c.tier == CpuTier::Avx512Bf16 && slow_bf16_dots(cpu.bf16_dot_rate);
  c.bf16_conv_via_fp32 = !c.bf16_native || switches.bf16_conv == Bf16Conv::Fp32 ||
                         (switches.bf16_conv == Bf16Conv::Auto && slow_dots);
  c.winograd_bf16 = c.tier == CpuTier::Avx512Bf16 && !c.bf16_conv_via_fp32 && cpu.avx512_bf16 &&
                    switches.winograd_bf16;
  c.strided_weight_grad_bf16 = c.tier == CpuTier::Avx512Bf16 && !c.bf16_conv_via_fp32 &&
                               cpu.avx512_bf16 && switches.strided_weight_grad;
  c.weight_grad_gemm = c.tier == CpuTier::Amx && !c.bf16_conv_via_fp32 && switches.weight_grad_gemm;
  c.conv_gemm = c.tier == CpuTier::Amx && !c.bf16_conv_via_fp32 && switches.conv_gemm;
  // AMX CPUs have AVX-512 BF16 (checked all the same); our kernels take the NHWC of the AMX
  // convolutions and the nChw16c of the others.
  c.batch_norm_bf16 = c.bf16_native && cpu.avx512_bf16 && switches.batch_norm_bf16;
  c.amx_matmul = (c.conv_gemm || c.weight_grad_gemm) && cpu.amx_tiles && switches.amx_matmul;
  return c;
}

const KernelChoice& kernel_choice() {
  static const KernelChoice choice = [] {
    KernelSwitches switches{switched_on("SG_WINOGRAD_BF16"),     bf16_conv_switch(),
                            switched_on("SG_CONV_WEIGHT_GEMM"),  switched_on("SG_CONV_GEMM"),
                            switched_on("SG_BN_BF16"),           switched_on("SG_AMX_MATMUL"),
                            switched_on("SG_STRIDED_WGRAD_BF16")};
    // oneDNN's effective ISA already honours DNNL_MAX_CPU_ISA, so our tier and its kernels
    // agree. The dot-product rate is measured only where it decides something.
    dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    bool measure = isa == dnnl::cpu_isa::avx512_core_bf16 && switches.bf16_conv == Bf16Conv::Auto;
    // Asked only where oneDNN dispatches to AMX: DNNL_MAX_CPU_ISA below it keeps tiles off.
    bool tiles = isa == dnnl::cpu_isa::avx512_core_amx && amx::usable();
    return choose_kernels(
        {isa, avx512_bf16_usable(), measure ? bf16_dot_rate_vs_fp32_fma() : 0.0, tiles}, switches);
  }();
  return choice;
}

const char* tier_name(CpuTier tier) {
  switch (tier) {
    case CpuTier::Amx:
      return "amx";
    case CpuTier::Avx512Bf16:
      return "avx512bf16";
    case CpuTier::NoBf16:
      return "no-bf16";
  }
  return "?";
}

std::vector<std::pair<std::string, std::string>> kernel_table(const KernelChoice& c) {
  std::string bf16_3x3, bf16_other;
  if (!c.bf16_native) {
    bf16_3x3 = bf16_other =
        "emulated: bf16-rounded operands through the fp32 kernels (no faster than fp32)";
  } else if (c.bf16_conv_via_fp32) {
    // Measured slow dot products, or (nothing measured) SG_BF16_CONV=fp32.
    bf16_3x3 = bf16_other =
        slow_bf16_dots(c.bf16_dot_rate)
            ? "fp32 kernels on bf16-rounded operands (bf16 dot products are slower here)"
            : "fp32 kernels on bf16-rounded operands (SG_BF16_CONV=fp32)";
  } else if (c.tier == CpuTier::Amx) {
    bf16_other = "oneDNN AMX (layouts oneDNN chooses)";
    bf16_3x3 = c.conv_gemm ? "oneDNN AMX (layouts oneDNN chooses); backward data as its forward "
                             "kernel on the turned weight (w[k,c,2-r,2-s] as [c,k,r,s])"
                           : "oneDNN AMX (layouts oneDNN chooses)";
  } else {
    bf16_3x3 = c.winograd_bf16 ? "stopgrad Winograd F(2x2,3x3), AVX-512 BF16, nChw16c"
                               : "oneDNN direct bf16 (SG_WINOGRAD_BF16=0)";
    bf16_other = "oneDNN direct bf16";
  }
  // The side of the threshold, not the number: the table goes into config.json and checkpoints,
  // which must not differ between two runs of the same settings (the number moves by a few
  // hundredths from run to run; bf16_dot_rate_line has it).
  char rate[64] = "not measured";
  if (c.bf16_dot_rate > 0)
    std::snprintf(rate, sizeof rate, "%s %.1fx (measured)",
                  slow_bf16_dots(c.bf16_dot_rate) ? "below" : "at least", kBf16DotRateThreshold);
  return {
      {"cpu tier", tier_name(c.tier)},
      {"oneDNN isa", c.isa},
      {"bf16 dot-product flops / fp32 FMA flops", rate},
      {"conv2d bf16 3x3 stride 1 (forward, backward data, backward weight)", bf16_3x3},
      {"conv2d bf16 other shapes (all passes)", bf16_other},
      {"conv2d bf16 backward weight, output <= 8x8 or 1x1 kernel (amx: and 3x3 to 32x32)",
       !c.weight_grad_gemm ? "as the two rows above"
       : c.amx_matmul      ? "stopgrad im2col + stopgrad AMX tile product (3x3, channels in "
                             "multiples of 32; also at 16x16 outputs; stride 1 at 8x8 to 32x32, "
                             "and 3x3 and 1x1 stride 2 into 8x8 to 32x32 with x in phases: shifted "
                             "tile products on a padded pixel grid, no im2col), else + "
                             "oneDNN AMX matmul"
                           : "stopgrad im2col + oneDNN AMX matmul"},
      {"conv2d bf16 backward weight, stride >= 2 (ResNet: 3x3 and 1x1)",
       c.strided_weight_grad_bf16
           ? "stopgrad: per-tap products on AVX-512 BF16 (x's pixels under each tap as rows, "
             "dy in position pairs)"
       : c.weight_grad_gemm ? "as the row above"
                            : "as the first two conv2d rows"},
      {"conv2d bf16 forward, backward data, output <= 4x4, >= 512 channels",
       c.amx_matmul  ? "stopgrad im2col + stopgrad AMX tile product (oneDNN AMX matmul where "
                       "channels are not multiples of 32)"
       : c.conv_gemm ? "stopgrad im2col + oneDNN AMX matmul"
                     : "as the first two conv2d rows"},
      {"conv2d bf16 backward data, 3x3 stride 1 at 8x8, 3x3 and 1x1 stride 2",
       c.conv_gemm && c.amx_matmul
           ? "stopgrad AMX tile products of shifted rows of dy on a padded pixel grid, one per "
             "phase of the input pixels (channels in multiples of 32, stride dividing the image; "
             "a 1x1 kernel's phases without a tap written as zeros)"
           : "as the first two conv2d rows"},
      {"conv2d fp32 3x3 stride 1", "oneDNN Winograd F(4x4,3x3) where it has one, else direct"},
      {"conv2d fp32 other shapes", "oneDNN direct"},
      {"batch_norm(+relu), relu, add, pooling", "oneDNN, in the layout the convolution chose"},
      {"relu backward of a two-consumer gradient (residual block outputs)",
       "stopgrad: the sum and the ReLU's mask in one pass (bf16: AVX-512 BF16 where the CPU has "
       "it)"},
      {"batch_norm(+relu) bf16, training (NHWC or nChw16c)",
       c.batch_norm_bf16 ? "stopgrad AVX-512 BF16 kernels; a residual block's last one with its "
                           "add and ReLU in the same pass (batch_norm_add_relu)"
                         : "as the row above"},
      {"matmul fp32", "oneDNN fp32"},
      {"matmul bf16 (the SSL heads' Linear layers with bf16 images)",
       c.bf16_conv_via_fp32     ? "oneDNN fp32 on the bf16 operands, rounded to bf16"
       : c.tier == CpuTier::Amx ? "oneDNN AMX bf16"
                                : "oneDNN AVX-512 BF16"},
  };
}

std::string kernel_table_text(const KernelChoice& c) {
  std::string out;
  for (const auto& [op, kernel] : kernel_table(c)) {
    std::string line = "  " + op;
    if (line.size() < 72) line.resize(72, ' ');
    out += line + " " + kernel + "\n";
  }
  return out;
}

std::string bf16_dot_rate_line(const KernelChoice& c) {
  if (c.bf16_dot_rate <= 0) return "";
  char line[160];
  std::snprintf(line, sizeof line,
                "bf16 dot products: %.2fx the fp32 FMA flop rate, measured at start-up (bf16 "
                "convolution kernels from %.1fx on)",
                c.bf16_dot_rate, kBf16DotRateThreshold);
  return line;
}

std::string bf16_emulation_warning(const KernelChoice& c) {
  if (c.bf16_native) return "";
  return "warning: this CPU (oneDNN isa " + c.isa +
         ") has no bf16 convolutions; bf16 is emulated through the fp32 kernels and is no faster "
         "than --precision fp32";
}

std::vector<std::pair<std::string, std::string>> kernel_switches() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const char* name : {"DNNL_MAX_CPU_ISA", "SG_WINOGRAD_BF16", "SG_BF16_CONV",
                           "SG_CONV_WEIGHT_GEMM", "SG_CONV_GEMM", "SG_BN_BF16", "SG_AMX_MATMUL",
                           "SG_STRIDED_WGRAD_BF16", "SG_CUDNN_BENCHMARK"})
    out.emplace_back(name, env_or_empty(name));
  return out;
}

}  // namespace sg::onednn
