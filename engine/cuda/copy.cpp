// Moving tensors between the host and a GPU (and between GPUs). Host memory is staged through
// a pinned buffer, so the transfer runs at full bus speed and cudaMemcpyAsync stays truly
// asynchronous; the host then waits for the stream, because the staging buffer is reused.
#include <cstring>
#include <mutex>

#include "engine/cuda/cuda_context.h"
#include "engine/ops.h"

namespace sg {

namespace {

// One growing pinned buffer, shared by all transfers (serialised by its mutex).
class PinnedStaging {
 public:
  ~PinnedStaging() {
    if (data_) cudaFreeHost(data_);
  }
  std::unique_lock<std::mutex> lock() { return std::unique_lock(mutex_); }
  void* reserve(size_t nbytes) {
    if (nbytes > capacity_) {
      if (data_) SG_CUDA_CHECK(cudaFreeHost(data_));
      data_ = nullptr;
      SG_CUDA_CHECK(cudaMallocHost(&data_, nbytes));
      capacity_ = nbytes;
    }
    return data_;
  }

 private:
  std::mutex mutex_;
  void* data_ = nullptr;
  size_t capacity_ = 0;
};

PinnedStaging& staging() {
  static PinnedStaging s;
  return s;
}

}  // namespace

namespace engine {

// Declared beside engine::to (engine/ops.cpp), which calls it for cross-device moves.
Tensor copy_between_devices(const Tensor& x, Device device) {
  Tensor src = engine::contiguous(engine::to_strided(x));
  Tensor out = Tensor::empty(src.shape(), src.dtype(), device);
  size_t nbytes = size_t(src.numel()) * element_size(src.dtype());
  if (nbytes == 0) return out;
  if (src.device().is_cpu()) {  // host -> device
    cuda::Context& c = cuda::context(device.index);
    auto lock = staging().lock();
    void* pinned = staging().reserve(nbytes);
    std::memcpy(pinned, src.raw_data(), nbytes);
    SG_CUDA_CHECK(
        cudaMemcpyAsync(out.raw_data(), pinned, nbytes, cudaMemcpyHostToDevice, c.stream));
    SG_CUDA_CHECK(cudaStreamSynchronize(c.stream));
  } else if (device.is_cpu()) {  // device -> host
    cuda::Context& c = cuda::context(src.device().index);
    auto lock = staging().lock();
    void* pinned = staging().reserve(nbytes);
    SG_CUDA_CHECK(
        cudaMemcpyAsync(pinned, src.raw_data(), nbytes, cudaMemcpyDeviceToHost, c.stream));
    SG_CUDA_CHECK(cudaStreamSynchronize(c.stream));
    std::memcpy(out.raw_data(), pinned, nbytes);
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
