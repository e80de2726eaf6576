#pragma once
// How far bf16 mixed precision moves a training step: the same network, weights and batch
// stepped once in float32 and once with bf16 activations, gradient by gradient. Shared by the
// mixed-precision test (one seed, fixed bounds) and bench/bf16_agreement (the spread over seeds).
#include <cstdint>
#include <string>
#include <vector>

#include "layers/resnet.h"

namespace sg {

struct GradientAgreement {
  std::string name;
  Shape shape;
  DType bf16_grad_dtype;  // master weights must get float32 gradients
  double norm_fp32, norm_bf16;
  double cosine;  // of the two gradients; 1 where the fp32 gradient is zero (by symmetry)
};

// Whether the fp32 gradient is nonzero, so that cosine and norms say something (some biases'
// gradients are zero by symmetry).
inline bool has_gradient(const GradientAgreement& g) { return g.norm_fp32 >= 1e-6; }

struct StepAgreement {
  double loss_fp32, loss_bf16;
  std::vector<GradientAgreement> grads;  // in named_parameters() order
};

// A BatchNorm scale or shift of a ResNet (every 1-D parameter but the classifier's bias): batch
// sums that nearly cancel, where bf16 rounding shows most.
inline bool is_norm_parameter(const GradientAgreement& g) {
  return g.shape.size() == 1 && !g.name.starts_with("fc.");
}

// One cross-entropy step of `net` on (x, y) in float32, then on bf16 x.
StepAgreement bf16_step_agreement(ResNet& net, const Tensor& x, const Tensor& y);

// The mixed-precision test's case: CIFAR ResNet-18 width 16, 10 classes, 16 random 16x16
// images with random labels, all drawn from `seed`.
StepAgreement resnet18_bf16_step_agreement(uint64_t seed);

}  // namespace sg
