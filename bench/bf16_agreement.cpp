// How far one bf16 ResNet step's gradients fall from the fp32 step's, seed by seed, on this
// CPU's kernels: the spread that tests/layers/test_mixed_precision.cpp (one seed, fixed bounds)
// has to sit under. For each seed: the loss gap and the lowest gradient cosine to fp32 among
// the BatchNorm parameters (sums over the batch that nearly cancel, where rounding shows most)
// and among the weights. The network and batch are the test's (layers/precision_agreement.h).
//   build/bench/bf16_agreement [--seeds 10]   (kernel switches as for every program:
//   SG_BF16_CONV, SG_WINOGRAD_BF16, SG_CONV_WEIGHT_GEMM, SG_CONV_GEMM, SG_AMX_MATMUL,
//   SG_BN_BF16, SG_STRIDED_WGRAD_BF16, DNNL_MAX_CPU_ISA)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/onednn/kernel_choice.h"
#include "layers/precision_agreement.h"

using namespace sg;

namespace {
struct Lowest {
  double cosine = 2;
  std::string name;
  void see(const GradientAgreement& g) {
    if (g.cosine < cosine) cosine = g.cosine, name = g.name;
  }
};
}  // namespace

int main(int argc, char** argv) {
  int seeds = 10;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
      seeds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "bf16_agreement: unknown option '%s' (expected --seeds N)\n", argv[i]);
      return 2;
    }
  }
  if (seeds < 1) {
    std::fprintf(stderr, "bf16_agreement: --seeds expects a positive count\n");
    return 2;
  }
  std::printf("kernels:\n%s", onednn::kernel_table_text(onednn::kernel_choice()).c_str());
  for (int seed = 1; seed <= seeds; ++seed) {
    StepAgreement step = resnet18_bf16_step_agreement(uint64_t(seed));
    Lowest norm, weight;
    for (const auto& g : step.grads) {
      if (has_gradient(g)) (is_norm_parameter(g) ? norm : weight).see(g);
    }
    std::printf(
        "seed %2d  loss gap %.4f  lowest BatchNorm cosine %.4f (%s)  lowest weight %.4f (%s)\n",
        seed, std::abs(step.loss_bf16 - step.loss_fp32) / std::abs(step.loss_fp32), norm.cosine,
        norm.name.c_str(), weight.cosine, weight.name.c_str());
  }
}
