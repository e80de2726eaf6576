#include "data/device_views.h"

#include "engine/backend.h"
#include "engine/ops.h"

namespace sg {

void pack_view_params(const AugmentRecord& r, float* out) {
  out[0] = float(r.crop.top), out[1] = float(r.crop.left);
  out[2] = float(r.crop.height), out[3] = float(r.crop.width);
  out[4] = r.flipped, out[5] = r.jittered;
  for (int k = 0; k < 4; ++k)
    out[6 + k] = float(r.jitter.order[k]), out[10 + k] = r.jitter.factor[k];
  out[14] = r.grayscale;
}

DeviceViewLoader::DeviceViewLoader(const ImageSet& set, int64_t batch_size, int n_views,
                                   AugmentOptions options, uint64_t seed, Device device,
                                   bool drop_last)
    : set_(set),
      batch_size_(batch_size),
      n_views_(n_views),
      options_(options),
      seed_(seed),
      device_(device),
      drop_last_(drop_last) {
  SG_CHECK(device.is_cuda(), "DeviceViewLoader needs a CUDA device, got ", device.str());
  SG_CHECK(batch_size >= 1 && batch_size <= set.size(), "batch size ", batch_size,
           " for a dataset of ", set.size(), " images");
  SG_CHECK(n_views >= 1, "at least one view per image, got ", n_views);
  SG_CHECK(options.blur_p == 0, "GaussianBlur runs on the CPU only: use the CPU loader for --blur");
  images_ = engine::to(set.images_as_float(0, set.size()), device);
}

int64_t DeviceViewLoader::batches_per_epoch() const {
  return batches_in_epoch(set_.size(), batch_size_, drop_last_);
}

void DeviceViewLoader::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  next_batch_ = 0;
  order_ = epoch_order(set_.size(), seed_, epoch);
}

ViewBatch DeviceViewLoader::next() {
  SG_CHECK(has_next(), "DeviceViewLoader::next() past the end of epoch ", epoch_);
  int64_t first = next_batch_ * batch_size_;
  int64_t count = std::min(batch_size_, set_.size() - first);
  ++next_batch_;
  ViewBatch out;
  out.labels = Tensor::empty({count}, DType::Int64);
  Tensor index = Tensor::empty({count}, DType::Int64);
  // Every view's choices in one tensor, so the batch reaches the device in one transfer.
  Tensor params = Tensor::empty({n_views_, count, kViewParams});
  for (int64_t i = 0; i < count; ++i) {
    int64_t image = order_[size_t(first + i)];
    out.indices.push_back(image);
    out.labels.data<int64_t>()[i] = set_.labels[size_t(image)];
    index.data<int64_t>()[i] = image;
    // The same draws, in the same order, as ViewLoader makes for this image and epoch.
    Generator gen = view_generator(seed_, epoch_, image);
    for (int v = 0; v < n_views_; ++v)
      pack_view_params(draw_augment(set_.height, set_.width, options_, gen),
                       params.data<float>() + (v * count + i) * kViewParams);
  }
  Tensor index_on_device = engine::to(index, device_);
  Tensor params_on_device = engine::to(params, device_);
  for (int v = 0; v < n_views_; ++v) {
    Tensor view = Tensor::empty({count, 3, options_.size, options_.size}, DType::Float32, device_);
    augment_on_device(
        images_, index_on_device,
        engine::reshape(engine::slice(params_on_device, 0, v, v + 1), {count, kViewParams}),
        options_, view);
    out.views.push_back(view);
  }
  return out;
}

#ifndef SG_WITH_CUDA
void augment_on_device(const Tensor&, const Tensor&, const Tensor&, const AugmentOptions&,
                       const Tensor&) {
  SG_CHECK(false, "GPU augmentation: stopgrad was built without CUDA");
}
#endif

}  // namespace sg
