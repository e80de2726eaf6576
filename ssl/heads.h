#pragma once
// SimSiam's heads: the projector (Linear-BN-ReLU layers, then Linear-BN with the last BN without
// affine) and a 2-layer bottleneck predictor (Linear-BN-ReLU, Linear: d -> pred -> d).
#include <memory>

#include "layers/layers.h"
#include "layers/resnet.h"

namespace sg {

// The shape of the Siamese network. Each default follows the official SimSiam and GSG code
// (facebookresearch/simsiam, bych-lee/gsg builder.py); docs/ssl-cifar10.md says where from.
struct SiameseOptions {
  std::string arch = "resnet18";
  int64_t width = 64;       // channels of the first ResNet stage
  int64_t dim = 2048;       // projection dimension d
  int64_t pred_dim = 512;   // predictor bottleneck
  int64_t proj_hidden = 0;  // projector hidden width; 0: the backbone's feature width (official)
  int proj_layers = 3;      // 3 (official), or 2 (several CIFAR reproductions)
  bool zero_init_residual = true;  // the last BN gamma of each residual block starts at 0
  bool cifar_stem = true;
  uint64_t seed = 0;
};

class Projector : public Module {
 public:
  // layers 2: in -> hidden -> dim; layers 3: in -> hidden -> hidden -> dim.
  Projector(int64_t in, int64_t hidden, int64_t dim, int layers, Generator& gen);
  Tensor forward(const Tensor& x) override { return forward(x, x.dtype()); }
  // Its Linear layers' products in `products`; BatchNorm and ReLU stay in x's dtype.
  Tensor forward(const Tensor& x, DType products);

 private:
  std::vector<std::shared_ptr<Linear>> hidden_fc_;
  std::vector<std::shared_ptr<BatchNorm1d>> hidden_bn_;
  std::shared_ptr<Linear> out_fc_;
  std::shared_ptr<BatchNorm1d> out_bn_;
};

class Predictor : public Module {
 public:
  Predictor(int64_t dim, int64_t pred_dim, Generator& gen);
  Tensor forward(const Tensor& x) override { return forward(x, x.dtype()); }
  Tensor forward(const Tensor& x, DType products);  // as Projector's

 private:
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<BatchNorm1d> bn1;
};

// Backbone (ResNet without classifier) + projector = the encoder f; predictor h.
class SiameseNet : public Module {
 public:
  explicit SiameseNet(const SiameseOptions& options);
  Tensor forward(const Tensor& x) override { return encode(x); }
  // z. The backbone computes in the images' dtype and hands over float32 features; with bf16
  // images the projector's products run in bf16 too (as PyTorch's autocast), the rest float32.
  Tensor encode(const Tensor& x) { return projector->forward(backbone->features(x), x.dtype()); }
  // p for projections z of images of dtype `images` (the predictor's products in that dtype).
  Tensor predict(const Tensor& z, DType images) { return predictor->forward(z, images); }
  const SiameseOptions& options() const { return options_; }
  int64_t proj_hidden() const;  // the projector's hidden width, resolved
  std::shared_ptr<ResNet> backbone;
  std::shared_ptr<Projector> projector;
  std::shared_ptr<Predictor> predictor;

 private:
  SiameseOptions options_;
};

}  // namespace sg
