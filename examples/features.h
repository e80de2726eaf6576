#pragma once
// Frozen-backbone features of a whole image set, shared by train_cifar10's kNN monitor and
// eval_cifar10: global-average-pooled backbone outputs, eval-mode BatchNorm, test-time
// normalisation only, rows in file order, batches of 256, computed on the network's device and
// returned on the CPU. The network's mode is restored.
#include <algorithm>
#include <functional>
#include <vector>

#include "data/loader.h"
#include "ssl/heads.h"

namespace sg {

// While alive: no graph, eval-mode BatchNorm; the network's mode is restored after.
class Evaluating {
 public:
  explicit Evaluating(Module& net) : net_(net), was_training_(net.is_training()) { net.eval(); }
  ~Evaluating() { net_.train(was_training_); }
  Evaluating(const Evaluating&) = delete;
  Evaluating& operator=(const Evaluating&) = delete;

 private:
  NoGradGuard no_grad_;
  Module& net_;
  bool was_training_;
};

// Images [first, first + count) of `set` as an eval batch on the network's device.
inline Tensor eval_images(SiameseNet& net, const ImageSet& set, int64_t first, int64_t count) {
  return engine::to(eval_batch(set, first, count, AugmentOptions{}),
                    net.state_dict().front().second.device());
}

// after_batch(images done), when given, is called after each batch (a progress line).
inline Tensor backbone_features(SiameseNet& net, const ImageSet& set,
                                const std::function<void(int64_t)>& after_batch = {}) {
  Evaluating eval(net);
  std::vector<Tensor> parts;
  for (int64_t first = 0; first < set.size(); first += 256) {
    int64_t count = std::min<int64_t>(256, set.size() - first);
    parts.push_back(net.backbone->features(eval_images(net, set, first, count)));
    if (after_batch) after_batch(first + count);
  }
  return engine::to(engine::cat(parts, 0), Device::cpu());
}

}  // namespace sg
