// Moving tensors between the host and a GPU (and between GPUs). Host memory goes through pinned
// staging buffers, so transfers run at full bus speed and cudaMemcpyAsync is truly asynchronous.
//
// Host -> device returns without waiting for the GPU: the data is already in a staging buffer,
// and a buffer is reused only once the event recorded after its last copy has completed. Each
// device has a ring of a few buffers, so a training loop's per-batch uploads (indices, random
// choices) never wait for the previous step's kernels. Device -> host waits for the stream, as
// the caller reads the data next. Large transfers go through the ring in chunks, which bounds
// the pinned memory (kSlots x kChunk per device) and overlaps host copies with bus transfers.
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <mutex>

#include "engine/cuda/cuda_context.h"
#include "engine/ops.h"

namespace sg {

namespace {

class StagingRing {
 public:
  static constexpr int kSlots = 4;
  static constexpr size_t kChunk = size_t(16) << 20;

  struct Slot {
    char* data = nullptr;
    size_t capacity = 0;
    cudaEvent_t copied = nullptr;  // recorded after the slot's last host -> device copy
  };

  ~StagingRing() {
    // Runs at exit; the driver may already be shutting down, so errors are ignored.
    for (Slot& s : slots_) {
      if (s.data) cudaFreeHost(s.data);
      if (s.copied) cudaEventDestroy(s.copied);
    }
  }

  std::unique_lock<std::mutex> lock() { return std::unique_lock(mutex_); }

  // The next slot, holding at least `nbytes`, once its previous copy has finished. The caller
  // holds lock() and has made the ring's device current.
  Slot& acquire(size_t nbytes) {
    Slot& s = slots_[size_t(next_)];
    next_ = (next_ + 1) % kSlots;
    if (!s.copied) SG_CUDA_CHECK(cudaEventCreateWithFlags(&s.copied, cudaEventDisableTiming));
    SG_CUDA_CHECK(cudaEventSynchronize(s.copied));  // at once if never recorded
    if (nbytes > s.capacity) {
      if (s.data) SG_CUDA_CHECK(cudaFreeHost(s.data));
      s.data = nullptr;
      s.capacity = 0;
      void* p = nullptr;
      SG_CUDA_CHECK(cudaMallocHost(&p, nbytes));
      s.data = static_cast<char*>(p);
      s.capacity = nbytes;
    }
    return s;
  }

 private:
  std::mutex mutex_;
  std::array<Slot, kSlots> slots_;
  int next_ = 0;
};

StagingRing& staging(int device) {
  static std::array<std::unique_ptr<StagingRing>, 16> rings;
  static std::mutex mutex;
  SG_CHECK(device >= 0 && device < 16, "cuda:", device, " is not a valid device index");
  std::lock_guard lock(mutex);
  auto& r = rings[size_t(device)];
  if (!r) r = std::make_unique<StagingRing>();
  return *r;
}

// Calls f(offset, bytes, slot) for each chunk of an nbytes transfer, holding the ring's lock.
template <typename F>
void through_staging(int device, size_t nbytes, F f) {
  cuda::context(device);  // makes the device current for the ring's events
  StagingRing& ring = staging(device);
  auto lock = ring.lock();
  for (size_t done = 0; done < nbytes; done += StagingRing::kChunk) {
    size_t n = std::min(StagingRing::kChunk, nbytes - done);
    f(done, n, ring.acquire(n));
  }
}

void host_to_device(char* dst, const char* src, size_t nbytes, int device) {
  cudaStream_t stream = cuda::context(device).stream;
  through_staging(device, nbytes, [&](size_t at, size_t n, StagingRing::Slot& slot) {
    std::memcpy(slot.data, src + at, n);
    SG_CUDA_CHECK(cudaMemcpyAsync(dst + at, slot.data, n, cudaMemcpyHostToDevice, stream));
    SG_CUDA_CHECK(cudaEventRecord(slot.copied, stream));
  });
}

void device_to_host(char* dst, const char* src, size_t nbytes, int device) {
  cudaStream_t stream = cuda::context(device).stream;
  through_staging(device, nbytes, [&](size_t at, size_t n, StagingRing::Slot& slot) {
    SG_CUDA_CHECK(cudaMemcpyAsync(slot.data, src + at, n, cudaMemcpyDeviceToHost, stream));
    SG_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::memcpy(dst + at, slot.data, n);
  });
}

}  // namespace

namespace engine {

// Declared beside engine::to (engine/ops.cpp), which calls it for cross-device moves.
Tensor copy_between_devices(const Tensor& x, Device device) {
  Tensor src = engine::contiguous(engine::to_strided(x));
  Tensor out = Tensor::empty(src.shape(), src.dtype(), device);
  size_t nbytes = size_t(src.numel()) * element_size(src.dtype());
  if (nbytes == 0) return out;
  if (src.device().is_cpu()) {
    host_to_device(static_cast<char*>(out.raw_data()), static_cast<const char*>(src.raw_data()),
                   nbytes, device.index);
  } else if (device.is_cpu()) {
    device_to_host(static_cast<char*>(out.raw_data()), static_cast<const char*>(src.raw_data()),
                   nbytes, src.device().index);
  } else {  // device -> device: wait for the source's producers, then copy peer to peer
    SG_CUDA_CHECK(cudaStreamSynchronize(cuda::context(src.device().index).stream));
    cuda::Context& c = cuda::context(device.index);
    SG_CUDA_CHECK(cudaMemcpyPeerAsync(out.raw_data(), device.index, src.raw_data(),
                                      src.device().index, nbytes, c.stream));
  }
  return out;
}

}  // namespace engine
}  // namespace sg
