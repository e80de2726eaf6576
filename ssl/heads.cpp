#include "ssl/heads.h"

namespace sg {

Projector::Projector(int64_t in, int64_t dim, Generator& gen) {
  fc1 = register_module("fc1", std::make_shared<Linear>(in, dim, gen, false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm1d>(dim));
  fc2 = register_module("fc2", std::make_shared<Linear>(dim, dim, gen, false));
  bn2 = register_module("bn2", std::make_shared<BatchNorm1d>(dim));
  fc3 = register_module("fc3", std::make_shared<Linear>(dim, dim, gen, false));
  bn3 = register_module("bn3", std::make_shared<BatchNorm1d>(dim, 0.1, 1e-5, /*affine=*/false));
}

Tensor Projector::forward(const Tensor& x) {
  Tensor h = bn1->forward_relu((*fc1)(x));
  h = bn2->forward_relu((*fc2)(h));
  return (*bn3)((*fc3)(h));
}

Predictor::Predictor(int64_t dim, int64_t pred_dim, Generator& gen) {
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, pred_dim, gen, false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm1d>(pred_dim));
  fc2 = register_module("fc2", std::make_shared<Linear>(pred_dim, dim, gen));
}

Tensor Predictor::forward(const Tensor& x) { return (*fc2)(bn1->forward_relu((*fc1)(x))); }

SiameseNet::SiameseNet(const std::string& arch, int64_t width, int64_t dim, int64_t pred_dim,
                       bool cifar_stem, uint64_t seed) {
  ResNetOptions o;
  o.num_classes = 0;
  o.width = width;
  o.stem = cifar_stem ? Stem::Cifar : Stem::ImageNet;
  o.seed = seed;
  backbone = register_module("backbone", make_resnet(arch, o));
  Generator gen(seed + 1);
  projector =
      register_module("projector", std::make_shared<Projector>(backbone->feature_dim(), dim, gen));
  predictor = register_module("predictor", std::make_shared<Predictor>(dim, pred_dim, gen));
}

}  // namespace sg
