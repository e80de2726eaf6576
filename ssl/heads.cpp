#include "ssl/heads.h"

namespace sg {

Projector::Projector(int64_t in, int64_t hidden, int64_t dim, int layers, Generator& gen) {
  SG_CHECK(layers == 2 || layers == 3, "projector: 2 or 3 layers, got ", layers);
  // Parameter names fc1/bn1, fc2/bn2, fc3/bn3 in order, as before the layer count was a choice.
  int64_t width = in;
  for (int k = 1; k < layers; ++k) {
    std::string n = std::to_string(k);
    hidden_fc_.push_back(
        register_module("fc" + n, std::make_shared<Linear>(width, hidden, gen, false)));
    hidden_bn_.push_back(register_module("bn" + n, std::make_shared<BatchNorm1d>(hidden)));
    width = hidden;
  }
  std::string n = std::to_string(layers);
  out_fc_ = register_module("fc" + n, std::make_shared<Linear>(width, dim, gen, false));
  out_bn_ =
      register_module("bn" + n, std::make_shared<BatchNorm1d>(dim, 0.1, 1e-5, /*affine=*/false));
}

Tensor Projector::forward(const Tensor& x, DType products) {
  Tensor h = x;
  for (size_t k = 0; k < hidden_fc_.size(); ++k)
    h = hidden_bn_[k]->forward_relu(hidden_fc_[k]->forward(h, products));
  return (*out_bn_)(out_fc_->forward(h, products));
}

Predictor::Predictor(int64_t dim, int64_t pred_dim, Generator& gen) {
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, pred_dim, gen, false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm1d>(pred_dim));
  fc2 = register_module("fc2", std::make_shared<Linear>(pred_dim, dim, gen));
}

Tensor Predictor::forward(const Tensor& x, DType products) {
  return fc2->forward(bn1->forward_relu(fc1->forward(x, products)), products);
}

SiameseNet::SiameseNet(const SiameseOptions& options) : options_(options) {
  ResNetOptions o;
  o.num_classes = 0;
  o.width = options.width;
  o.stem = options.cifar_stem ? Stem::Cifar : Stem::ImageNet;
  o.zero_init_residual = options.zero_init_residual;
  o.seed = options.seed;
  backbone = register_module("backbone", make_resnet(options.arch, o));
  Generator gen(options.seed + 1);
  projector = register_module(
      "projector", std::make_shared<Projector>(backbone->feature_dim(), proj_hidden(), options.dim,
                                               options.proj_layers, gen));
  predictor =
      register_module("predictor", std::make_shared<Predictor>(options.dim, options.pred_dim, gen));
}

int64_t SiameseNet::proj_hidden() const {
  return options_.proj_hidden > 0 ? options_.proj_hidden : backbone->feature_dim();
}

}  // namespace sg
