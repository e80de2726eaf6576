#pragma once
// Batches of augmented views for self-supervised training. Each epoch reshuffles with a seeded
// permutation; each image's augmentations come from a generator seeded by (seed, epoch, image),
// so a run is reproducible whatever the thread timing and the number of workers. The next batch
// is prepared in the background while the current one trains, its images shared among
// `workers` threads.
#include <future>
#include <vector>

#include "data/transforms.h"

namespace sg {

// The shuffled image order of an epoch, and the generator of one image's views in that epoch:
// shared by the CPU and GPU loaders, so both produce the same views for the same seed.
std::vector<int64_t> epoch_order(int64_t size, uint64_t seed, int64_t epoch);
Generator view_generator(uint64_t seed, int64_t epoch, int64_t index);
int64_t batches_in_epoch(int64_t images, int64_t batch_size, bool drop_last);

struct ViewBatch {
  std::vector<Tensor> views;  // n_views tensors of [B, 3, size, size]
  std::vector<int64_t> indices;
  Tensor labels;  // int64 [B] (only for monitoring; SSL never reads them)
};

// Data-parallel sharding: rank `rank` of `world`. Every rank draws the same (seed, epoch)
// permutation; global batch k is its images [k B, (k+1) B) with B = world x batch_size, and rank
// r takes the r-th slice of it, so the ranks' batches of a step together are exactly the batch a
// single process would train on. An image's views come from its own (seed, epoch, image)
// generator, so they are the same whichever rank draws them and however many ranks there are.
// Only whole global batches are used (drop_last), on every rank alike.
struct Shard {
  int rank = 0, world = 1;
};

class ViewLoader {
 public:
  ViewLoader(const ImageSet& set, int64_t batch_size, int n_views, AugmentOptions options,
             uint64_t seed, bool drop_last = true, int workers = 1, Shard shard = {});
  ~ViewLoader();
  ViewLoader(const ViewLoader&) = delete;
  ViewLoader& operator=(const ViewLoader&) = delete;

  void start_epoch(int64_t epoch);
  int64_t batches_per_epoch() const;
  bool has_next() const { return next_batch_ < batches_per_epoch(); }
  ViewBatch next();

 private:
  ViewBatch make(int64_t epoch, int64_t batch) const;
  const ImageSet& set_;
  int64_t batch_size_;
  int n_views_;
  AugmentOptions options_;
  uint64_t seed_;
  bool drop_last_;
  int workers_;
  Shard shard_;
  int64_t epoch_ = 0, next_batch_ = 0;
  std::vector<int64_t> order_;
  std::future<ViewBatch> prefetch_;
};

// Normalised, unaugmented images [first, first + count) for evaluation: [count, 3, H, W].
Tensor eval_batch(const ImageSet& set, int64_t first, int64_t count, const AugmentOptions& options);

}  // namespace sg
