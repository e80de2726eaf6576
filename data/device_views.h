#pragma once
// The GPU data path: the image set lives on the GPU, and each batch's views are made there by
// one CUDA kernel, so training never waits for CPU-side augmentation. The random choices are
// drawn on the host with the CPU loader's generators (draw_augment) and applied on the device,
// so a DeviceViewLoader yields the same views as a ViewLoader with the same seed (up to float
// rounding). GaussianBlur is CPU-only.
#include "data/loader.h"

namespace sg {

// Number of floats describing one view's random choices on the device.
inline constexpr int64_t kViewParams = 15;
// Packs a record as kViewParams floats (crop box, flip, jitter flag, order, factors, gray).
void pack_view_params(const AugmentRecord& r, float* out);

// Views of images[index[i]] (images: float [N, 3, H, W] in [0, 1], on a GPU) with the choices
// in params (float [B, kViewParams]), normalised, into out [B, 3, size, size].
void augment_on_device(const Tensor& images, const Tensor& index, const Tensor& params,
                       const AugmentOptions& o, const Tensor& out);

class DeviceViewLoader {
 public:
  DeviceViewLoader(const ImageSet& set, int64_t batch_size, int n_views, AugmentOptions options,
                   uint64_t seed, Device device, bool drop_last = true);

  void start_epoch(int64_t epoch);
  int64_t batches_per_epoch() const;
  bool has_next() const { return next_batch_ < batches_per_epoch(); }
  ViewBatch next();  // views on the device; labels and indices on the host

 private:
  const ImageSet& set_;
  Tensor images_;  // the whole set on the device
  int64_t batch_size_;
  int n_views_;
  AugmentOptions options_;
  uint64_t seed_;
  Device device_;
  bool drop_last_;
  int64_t epoch_ = 0, next_batch_ = 0;
  std::vector<int64_t> order_;
};

}  // namespace sg
