// How far one bf16 ResNet step's gradients fall from the fp32 step's, seed by seed, on this
// CPU's kernels: the spread that bounds tests/layers/test_mixed_precision.cpp (one seed) has
// to sit under. For each seed: the loss gap and the lowest gradient cosine to fp32 among the
// BatchNorm parameters (sums over the batch that nearly cancel, where rounding shows most)
// and among the convolution weights. The network and batch are the test's.
//   build/bench/bf16_agreement [--seeds 10]   (kernel switches as for every program:
//   SG_BF16_CONV, SG_WINOGRAD_BF16, SG_CONV_WEIGHT_GEMM, DNNL_MAX_CPU_ISA)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/onednn/kernel_choice.h"
#include "layers/resnet.h"

using namespace sg;
namespace e = sg::engine;

namespace {

struct Step {
  double loss;
  NamedTensors grads;
};

Step run(ResNet& net, const Tensor& x, const Tensor& y) {
  net.zero_grad();
  Tensor loss = cross_entropy(net(x), y);
  backward(loss);
  Step s{loss.item(), {}};
  for (auto& [name, p] : net.named_parameters())
    s.grads.emplace_back(name, e::to(p.grad(), DType::Float32));
  return s;
}

double dot(const Tensor& a, const Tensor& b) { return e::sum(e::mul(a, b)).item(); }

struct Lowest {
  double cosine = 2;
  std::string name;
  void see(double c, const std::string& n) {
    if (c < cosine) cosine = c, name = n;
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
    ResNetOptions o;
    o.stem = Stem::Cifar;
    o.width = 16;
    o.num_classes = 10;
    auto net = make_resnet("resnet18", o);
    Generator g{uint64_t(seed)};
    Tensor x = normal({16, 3, 16, 16}, 0, 1, g);
    Tensor y = e::to(e::mul(uniform({16}, 0, 10, g), 1.0), DType::Int64);
    Step fp32 = run(*net, x, y);
    Step bf16 = run(*net, e::to(x, DType::BFloat16), y);
    Lowest batch_norm, conv;
    for (size_t i = 0; i < fp32.grads.size(); ++i) {
      const auto& [name, a] = fp32.grads[i];
      const Tensor& b = bf16.grads[i].second;
      double na = std::sqrt(dot(a, a)), nb = std::sqrt(dot(b, b));
      if (na < 1e-6) continue;  // zero by symmetry
      double cosine = dot(a, b) / (na * nb);
      if (name.find("bn") != std::string::npos || name.find("downsample.1") != std::string::npos)
        batch_norm.see(cosine, name);
      else if (name.find("conv") != std::string::npos ||
               name.find("downsample.0") != std::string::npos)
        conv.see(cosine, name);
    }
    std::printf(
        "seed %2d  loss gap %.4f  lowest BatchNorm cosine %.4f (%s)  lowest conv %.4f (%s)\n", seed,
        std::abs(bf16.loss - fp32.loss) / std::abs(fp32.loss), batch_norm.cosine,
        batch_norm.name.c_str(), conv.cosine, conv.name.c_str());
  }
}
