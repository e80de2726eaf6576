#pragma once
// Frozen-backbone features of a whole image set, shared by train_cifar10's kNN monitor and
// eval_cifar10: global-average-pooled backbone outputs, eval-mode BatchNorm, test-time
// normalisation only, rows in file order, batches of 256, computed on the network's device and
// returned on the CPU; under mpirun sharded over the ranks. The network's mode is restored.
#include <algorithm>
#include <functional>
#include <vector>

#include "data/loader.h"
#include "engine/communicator.h"
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

// Images [first, first + count) of `set`; after_batch(images done), when given, is called after
// each batch (a progress line).
inline Tensor backbone_features(SiameseNet& net, const ImageSet& set, int64_t first, int64_t count,
                                const std::function<void(int64_t)>& after_batch = {}) {
  Evaluating eval(net);
  std::vector<Tensor> parts;
  for (int64_t done = 0; done < count; done += 256) {
    int64_t n = std::min<int64_t>(256, count - done);
    parts.push_back(net.backbone->features(eval_images(net, set, first + done, n)));
    if (after_batch) after_batch(done + n);
  }
  if (parts.empty()) return Tensor::zeros({0, net.backbone->feature_dim()});
  return engine::to(engine::cat(parts, 0), Device::cpu());
}

inline Tensor backbone_features(SiameseNet& net, const ImageSet& set,
                                const std::function<void(int64_t)>& after_batch = {}) {
  return backbone_features(net, set, 0, set.size(), after_batch);
}

// The same over the ranks of `comm` (mpirun): each rank computes a 1/N slice of the rows, and
// an all-gather gives every rank all of them. after_batch counts the whole job's images.
inline Tensor backbone_features(SiameseNet& net, const ImageSet& set, Communicator& comm,
                                const std::function<void(int64_t)>& after_batch = {}) {
  if (comm.size() == 1) return backbone_features(net, set, after_batch);
  int64_t per = (set.size() + comm.size() - 1) / comm.size();  // the last slice padded
  int64_t first = std::min<int64_t>(comm.rank() * per, set.size());
  int64_t count = std::min(per, set.size() - first);
  Tensor padded = Tensor::zeros({per, net.backbone->feature_dim()});
  if (count > 0) {
    Tensor mine = backbone_features(net, set, first, count, [&](int64_t done) {
      if (after_batch) after_batch(done * comm.size());
    });
    engine::copy_(engine::narrow(padded, 0, 0, count), mine);
  }
  Tensor all = comm.all_gather(padded);  // [ranks, per, features]
  return engine::contiguous(engine::narrow(
      engine::reshape(all, {comm.size() * per, net.backbone->feature_dim()}), 0, 0, set.size()));
}

}  // namespace sg
