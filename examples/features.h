#pragma once
// Frozen-backbone features of a whole image set, shared by train_cifar10's kNN monitor and
// eval_cifar10: global-average-pooled backbone outputs, eval-mode BatchNorm, test-time
// normalisation only, rows in file order, batches of 256, computed on the network's device and
// returned on the CPU. The network's mode is restored.
#include <algorithm>
#include <vector>

#include "data/loader.h"
#include "ssl/heads.h"

namespace sg {

inline Tensor backbone_features(SiameseNet& net, const ImageSet& set) {
  NoGradGuard no_grad;
  bool was_training = net.is_training();
  net.eval();
  Device device = net.state_dict().front().second.device();
  AugmentOptions o;
  std::vector<Tensor> parts;
  for (int64_t first = 0; first < set.size(); first += 256)
    parts.push_back(net.backbone->features(
        engine::to(eval_batch(set, first, std::min<int64_t>(256, set.size() - first), o), device)));
  net.train(was_training);
  return engine::to(engine::cat(parts, 0), Device::cpu());
}

}  // namespace sg
