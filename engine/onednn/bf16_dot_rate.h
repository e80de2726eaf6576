#pragma once
// How fast this CPU's bf16 dot products (`vdpbf16ps`) are against its float32 FMAs, measured:
// the two differ by 4x between CPUs that both report AVX-512 BF16. On AMD Zen 4/5 one
// `vdpbf16ps` (64 flops) issues as often as one 512-bit FMA (32 flops), so bf16 kernels run at
// twice fp32's flop rate; on Intel Xeons without AMX (Sapphire/Emerald Rapids with AMX hidden by
// the hypervisor) it issues about once per two cycles against two FMAs per cycle, so bf16
// kernels run at half fp32's flop rate, and a bf16 convolution is faster through the float32
// kernels. kernel_choice.h decides from this number.
namespace sg::onednn {

// Flops per second of `vdpbf16ps` over those of `vfmadd231ps`, both on 512-bit registers with
// enough independent accumulators to hide latency; the best of several alternating rounds
// (well under a millisecond in all). Returns 0 where the CPU lacks AVX-512 BF16.
double bf16_dot_rate_vs_fp32_fma();

}  // namespace sg::onednn
