// The GPU data path against the CPU loader: the same seed must give the same views (the GPU
// computes in float where the CPU crop uses double, hence 1e-4), labels and image order.
// Skips where no GPU is present.
#include <doctest/doctest.h>

#include "data/device_views.h"
#include "engine/backend.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::expect_close;

TEST_CASE("cuda.augment_matches_cpu_loader") {
  sg::testing::skip_without_gpu();
  ImageSet set = load_cifar10_train(SG_SOURCE_DIR "/data/cifar10-sample");
  AugmentOptions o;
  ViewLoader cpu(set, 64, 2, o, 11);
  DeviceViewLoader gpu(set, 64, 2, o, 11, Device::cuda(0));
  REQUIRE(cpu.batches_per_epoch() == gpu.batches_per_epoch());
  for (int64_t epoch : {1, 2}) {
    cpu.start_epoch(epoch);
    gpu.start_epoch(epoch);
    for (int b = 0; b < 3; ++b) {
      ViewBatch c = cpu.next(), g = gpu.next();
      CHECK(c.indices == g.indices);
      CHECK(c.labels.to_vector() == g.labels.to_vector());
      for (int v = 0; v < 2; ++v) {
        CHECK(g.views[size_t(v)].device() == Device::cuda(0));
        expect_close(g.views[size_t(v)], c.views[size_t(v)], 1e-4, "view");
      }
    }
  }
  AugmentOptions blurred = o;
  blurred.blur_p = 0.5;
  CHECK_THROWS_WITH_AS(DeviceViewLoader(set, 64, 2, blurred, 0, Device::cuda(0)),
                       doctest::Contains("CPU only"), Error);
}
