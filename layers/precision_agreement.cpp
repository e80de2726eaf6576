#include "layers/precision_agreement.h"

#include <cmath>
#include <utility>

namespace sg {

namespace e = engine;

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
  for (auto& [name, p] : net.named_parameters()) s.grads.emplace_back(name, p.grad());
  return s;
}

double dot(const Tensor& a, const Tensor& b) {
  return e::sum(e::mul(e::to(a, DType::Float32), e::to(b, DType::Float32))).item();
}

}  // namespace

StepAgreement bf16_step_agreement(ResNet& net, const Tensor& x, const Tensor& y) {
  Step fp32 = run(net, x, y);
  Step bf16 = run(net, e::to(x, DType::BFloat16), y);
  StepAgreement out{fp32.loss, bf16.loss, {}};
  for (size_t i = 0; i < fp32.grads.size(); ++i) {
    const Tensor &a = fp32.grads[i].second, &b = bf16.grads[i].second;
    SG_CHECK(b.defined(), "the bf16 step left no gradient for ", fp32.grads[i].first);
    GradientAgreement g{fp32.grads[i].first,  a.shape(), b.dtype(), std::sqrt(dot(a, a)),
                        std::sqrt(dot(b, b)), 1.0};
    if (has_gradient(g)) g.cosine = dot(a, b) / (g.norm_fp32 * g.norm_bf16);
    out.grads.push_back(std::move(g));
  }
  return out;
}

StepAgreement resnet18_bf16_step_agreement(uint64_t seed) {
  ResNetOptions o;
  o.stem = Stem::Cifar;
  o.width = 16;
  o.num_classes = 10;
  auto net = make_resnet("resnet18", o);
  Generator g(seed);
  Tensor x = normal({16, 3, 16, 16}, 0, 1, g);
  Tensor y = e::to(e::mul(uniform({16}, 0, 10, g), 1.0), DType::Int64);
  return bf16_step_agreement(*net, x, y);
}

}  // namespace sg
