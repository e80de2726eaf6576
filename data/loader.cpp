#include "data/loader.h"

#include <exception>
#include <thread>

namespace sg {

std::vector<int64_t> epoch_order(int64_t size, uint64_t seed, int64_t epoch) {
  Generator gen(seed * 1000003 + uint64_t(epoch));
  Tensor perm = randperm(size, gen);
  return {perm.data<int64_t>(), perm.data<int64_t>() + size};
}

Generator view_generator(uint64_t seed, int64_t epoch, int64_t index) {
  return Generator((seed * 1000003 + uint64_t(epoch)) * 1000003 + uint64_t(index));
}

ViewLoader::ViewLoader(const ImageSet& set, int64_t batch_size, int n_views, AugmentOptions options,
                       uint64_t seed, bool drop_last, int workers, Shard shard)
    : set_(set),
      batch_size_(batch_size),
      n_views_(n_views),
      options_(options),
      seed_(seed),
      drop_last_(drop_last),
      workers_(workers),
      shard_(shard) {
  SG_CHECK(shard.world >= 1 && shard.rank >= 0 && shard.rank < shard.world, "loader shard: rank ",
           shard.rank, " of a world of ", shard.world);
  SG_CHECK(shard.world == 1 || drop_last, "loader shard: a world of ", shard.world,
           " uses only whole global batches (drop_last)");
  SG_CHECK(batch_size * shard.world <= set.size(), "global batch ", batch_size * shard.world, " (",
           shard.world, " ranks x ", batch_size, ") for a dataset of ", set.size(), " images");
  SG_CHECK(workers >= 1, "at least one loader worker, got ", workers);
  SG_CHECK(batch_size >= 1 && batch_size <= set.size(), "batch size ", batch_size,
           " for a dataset of ", set.size(), " images");
  SG_CHECK(n_views >= 1, "at least one view per image, got ", n_views);
}

ViewLoader::~ViewLoader() {
  if (prefetch_.valid()) prefetch_.wait();
}

int64_t batches_in_epoch(int64_t images, int64_t batch_size, bool drop_last) {
  return drop_last ? images / batch_size : (images + batch_size - 1) / batch_size;
}

int64_t ViewLoader::batches_per_epoch() const {
  return batches_in_epoch(set_.size(), batch_size_ * shard_.world, drop_last_);
}

void ViewLoader::start_epoch(int64_t epoch) {
  if (prefetch_.valid()) prefetch_.wait();
  epoch_ = epoch;
  next_batch_ = 0;
  order_ = epoch_order(set_.size(), seed_, epoch);
  prefetch_ = std::async(std::launch::async, [this, epoch] { return make(epoch, 0); });
}

ViewBatch ViewLoader::next() {
  SG_CHECK(has_next(), "ViewLoader::next() past the end of epoch ", epoch_);
  ViewBatch batch = prefetch_.get();
  ++next_batch_;
  if (has_next())
    prefetch_ =
        std::async(std::launch::async, [this, e = epoch_, b = next_batch_] { return make(e, b); });
  return batch;
}

ViewBatch ViewLoader::make(int64_t epoch, int64_t b) const {
  int64_t first = (b * shard_.world + shard_.rank) * batch_size_,
          count = std::min(batch_size_, set_.size() - first);
  int64_t side = options_.size, per_image = 3 * side * side;
  ViewBatch out;
  for (int v = 0; v < n_views_; ++v) out.views.push_back(Tensor::empty({count, 3, side, side}));
  out.labels = Tensor::empty({count}, DType::Int64);
  for (int64_t i = 0; i < count; ++i) {
    int64_t index = order_[first + i];
    out.indices.push_back(index);
    out.labels.data<int64_t>()[i] = set_.labels[index];
  }
  // Each image's views depend only on its own generator, so any split among workers gives the
  // same batch.
  std::vector<std::exception_ptr> errors(static_cast<size_t>(workers_));
  auto augment_share = [&](int worker) {
    try {
      for (int64_t i = worker; i < count; i += workers_) {
        Generator gen = view_generator(seed_, epoch, out.indices[size_t(i)]);
        for (int v = 0; v < n_views_; ++v)
          augment(set_, out.indices[size_t(i)], options_, gen,
                  out.views[v].data<float>() + i * per_image);
      }
    } catch (...) {
      errors[size_t(worker)] = std::current_exception();
    }
  };
  std::vector<std::thread> helpers;
  for (int w = 1; w < workers_; ++w) helpers.emplace_back(augment_share, w);
  augment_share(0);
  for (auto& h : helpers) h.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

Tensor eval_batch(const ImageSet& set, int64_t first, int64_t count,
                  const AugmentOptions& options) {
  Tensor out = Tensor::empty({count, 3, set.height, set.width});
  for (int64_t i = 0; i < count; ++i)
    preprocess(set, first + i, options, out.data<float>() + i * set.image_bytes());
  return out;
}

}  // namespace sg
