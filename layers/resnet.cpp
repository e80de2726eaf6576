#include "layers/resnet.h"

#include <vector>

namespace sg {

namespace {

// torchvision's initialisation: convolutions N(0, 2/fan_out), BatchNorm gamma 1 and beta 0.
std::shared_ptr<Conv2d> conv(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                             Generator& gen) {
  auto c = std::make_shared<Conv2d>(in, out, kernel, gen, stride, kernel / 2, /*bias=*/false);
  c->weight.set_data(kaiming_normal(c->weight.shape(), gen, DType::Float32, FanMode::Out));
  return c;
}

std::shared_ptr<Sequential> make_downsample(int64_t in, int64_t out, int64_t stride,
                                            Generator& gen) {
  if (stride == 1 && in == out) return nullptr;
  auto d = std::make_shared<Sequential>();
  d->push_back(conv(in, out, 1, stride, gen));
  d->push_back(std::make_shared<BatchNorm2d>(out));
  return d;
}

void zero_gamma(BatchNorm2d& bn) { bn.weight.set_data(Tensor::zeros(bn.weight.shape())); }

}  // namespace

BasicBlock::BasicBlock(int64_t in, int64_t planes, int64_t stride, Generator& gen,
                       bool zero_init_residual) {
  conv1 = register_module("conv1", conv(in, planes, 3, stride, gen));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, gen));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  if (auto d = make_downsample(in, planes, stride, gen))
    downsample = register_module("downsample", d);
  if (zero_init_residual) zero_gamma(*bn2);
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = (*conv2)(bn1->forward_relu((*conv1)(x)));
  return bn2->forward_add_relu(out, downsample ? (*downsample)(x) : x);
}

// The stride sits on the 3x3 convolution (torchvision's "ResNet v1.5").
Bottleneck::Bottleneck(int64_t in, int64_t planes, int64_t stride, Generator& gen,
                       bool zero_init_residual) {
  conv1 = register_module("conv1", conv(in, planes, 1, 1, gen));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride, gen));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  conv3 = register_module("conv3", conv(planes, planes * expansion, 1, 1, gen));
  bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(planes * expansion));
  if (auto d = make_downsample(in, planes * expansion, stride, gen))
    downsample = register_module("downsample", d);
  if (zero_init_residual) zero_gamma(*bn3);
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor out = bn1->forward_relu((*conv1)(x));
  out = (*conv3)(bn2->forward_relu((*conv2)(out)));
  return bn3->forward_add_relu(out, downsample ? (*downsample)(x) : x);
}

namespace {
struct Arch {
  bool bottleneck;
  std::vector<int64_t> blocks;
};

Arch lookup(const std::string& arch) {
  if (arch == "resnet18") return {false, {2, 2, 2, 2}};
  if (arch == "resnet34") return {false, {3, 4, 6, 3}};
  if (arch == "resnet50") return {true, {3, 4, 6, 3}};
  SG_CHECK(false, "unknown architecture '", arch, "': expected resnet18, resnet34 or resnet50");
}

template <typename Block>
std::shared_ptr<Sequential> make_stage(int64_t& in, int64_t planes, int64_t blocks, int64_t stride,
                                       Generator& gen, bool zero_init_residual) {
  auto stage = std::make_shared<Sequential>();
  for (int64_t i = 0; i < blocks; ++i) {
    stage->push_back(
        std::make_shared<Block>(in, planes, i == 0 ? stride : 1, gen, zero_init_residual));
    in = planes * Block::expansion;
  }
  return stage;
}
}  // namespace

ResNet::ResNet(const std::string& arch, ResNetOptions o) : arch_(arch) {
  Arch a = lookup(arch);
  SG_CHECK(o.width >= 1, "ResNet width must be positive, got ", o.width);
  Generator gen(o.seed);
  int64_t w = o.width;
  if (o.stem == Stem::ImageNet) {
    conv1 = register_module("conv1", conv(3, w, 7, 2, gen));
  } else {
    conv1 = register_module("conv1", conv(3, w, 3, 1, gen));
  }
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(w));
  if (o.stem == Stem::ImageNet)
    maxpool = std::make_shared<MaxPool2d>(3, 2, 1);
  else
    maxpool = std::make_shared<Identity>();
  int64_t in = w;
  std::shared_ptr<Sequential>* stages[] = {&layer1, &layer2, &layer3, &layer4};
  for (int s = 0; s < 4; ++s) {
    int64_t planes = w << s, stride = s == 0 ? 1 : 2;
    *stages[s] =
        a.bottleneck
            ? make_stage<Bottleneck>(in, planes, a.blocks[s], stride, gen, o.zero_init_residual)
            : make_stage<BasicBlock>(in, planes, a.blocks[s], stride, gen, o.zero_init_residual);
    register_module("layer" + std::to_string(s + 1), *stages[s]);
  }
  feature_dim_ = in;
  if (o.num_classes > 0)
    fc = register_module("fc", std::make_shared<Linear>(in, o.num_classes, gen));
}

Tensor ResNet::features(const Tensor& x) {
  SG_CHECK(x.dim() == 4 && x.shape()[1] == 3, arch_, ": expected images [N, 3, H, W], got ",
           shape_str(x.shape()));
  Tensor h = (*maxpool)(bn1->forward_relu((*conv1)(x)));
  h = (*layer4)((*layer3)((*layer2)((*layer1)(h))));
  // Mixed precision ends here: features and the classifier are float32.
  Tensor pooled = adaptive_avg_pool2d(h);
  return flatten(pooled.dtype() == DType::BFloat16 ? sg::to(pooled, DType::Float32) : pooled, 1);
}

Tensor ResNet::forward(const Tensor& x) {
  Tensor f = features(x);
  return fc ? (*fc)(f) : f;
}

std::shared_ptr<ResNet> make_resnet(const std::string& arch, ResNetOptions options) {
  return std::make_shared<ResNet>(arch, options);
}

}  // namespace sg
