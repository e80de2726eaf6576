#pragma once
// SimSiam's heads: a 3-layer projector (Linear-BN-ReLU, Linear-BN-ReLU, Linear-BN with the last
// BN without affine) and a 2-layer bottleneck predictor (Linear-BN-ReLU, Linear: d -> pred -> d).
#include <memory>

#include "layers/layers.h"
#include "layers/resnet.h"

namespace sg {

class Projector : public Module {
 public:
  Projector(int64_t in, int64_t dim, Generator& gen);
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<Linear> fc1, fc2, fc3;
  std::shared_ptr<BatchNorm1d> bn1, bn2, bn3;
};

class Predictor : public Module {
 public:
  Predictor(int64_t dim, int64_t pred_dim, Generator& gen);
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<BatchNorm1d> bn1;
};

// Backbone (ResNet without classifier) + projector = the encoder f; predictor h.
class SiameseNet : public Module {
 public:
  SiameseNet(const std::string& arch, int64_t width, int64_t dim, int64_t pred_dim, bool cifar_stem,
             uint64_t seed);
  Tensor forward(const Tensor& x) override { return encode(x); }
  Tensor encode(const Tensor& x) { return (*projector)(backbone->features(x)); }  // z
  std::shared_ptr<ResNet> backbone;
  std::shared_ptr<Projector> projector;
  std::shared_ptr<Predictor> predictor;
};

}  // namespace sg
