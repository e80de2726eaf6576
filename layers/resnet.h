#pragma once
// ResNet-18/34/50 with torchvision's structure and parameter names (conv1, bn1, layer1.0.conv1,
// layerN.0.downsample.0/1, fc), the ImageNet stem (7x7 stride 2 + max-pool) or the CIFAR stem
// (3x3 stride 1, no max-pool), and a width multiplier (channels of the first stage; 64 is
// torchvision's).
#include <memory>
#include <string>

#include "layers/layers.h"

namespace sg {

enum class Stem { ImageNet, Cifar };

struct ResNetOptions {
  int64_t num_classes = 1000;  // 0: no classifier; forward returns pooled features
  int64_t width = 64;
  Stem stem = Stem::ImageNet;
  bool zero_init_residual = false;  // last BN of each block starts at gamma = 0
  uint64_t seed = 0;
};

class BasicBlock : public Module {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlock(int64_t in, int64_t planes, int64_t stride, Generator& gen, bool zero_init_residual);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Sequential> downsample;  // null when the shapes already match
};

class Bottleneck : public Module {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(int64_t in, int64_t planes, int64_t stride, Generator& gen, bool zero_init_residual);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Sequential> downsample;
};

class ResNet : public Module {
 public:
  ResNet(const std::string& arch, ResNetOptions options);
  Tensor forward(const Tensor& x) override;
  // Pooled features before the classifier: [N, feature_dim].
  Tensor features(const Tensor& x);
  int64_t feature_dim() const { return feature_dim_; }
  const std::string& arch() const { return arch_; }

 private:
  std::string arch_;
  int64_t feature_dim_;
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<Module> maxpool;
  std::shared_ptr<Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<Linear> fc;
};

// resnet18 / resnet34 / resnet50; throws naming the valid choices for anything else.
std::shared_ptr<ResNet> make_resnet(const std::string& arch, ResNetOptions options);

}  // namespace sg
