#include "engine/cuda/cuda_context.h"

#include <array>
#include <memory>
#include <mutex>

#include "engine/backend.h"

namespace sg {

int cuda_device_count() {
  int n = 0;
  // No driver or no device both mean "no GPU here", not an error.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

void synchronize(Device device) {
  if (device.is_cuda()) SG_CUDA_CHECK(cudaStreamSynchronize(cuda::context(device.index).stream));
}

namespace cuda {

namespace {
constexpr int kMaxDevices = 16;

struct OwnedContext : Context {
  ~OwnedContext() {
    // Runs at exit; the driver may already be shutting down, so errors are ignored.
    if (cudnn) cudnnDestroy(cudnn);
    if (cublas) cublasDestroy(cublas);
    if (stream) cudaStreamDestroy(stream);
  }
};
}  // namespace

Context& context(int device) {
  static std::array<std::unique_ptr<OwnedContext>, kMaxDevices> contexts;
  static std::mutex mutex;
  SG_CHECK(device >= 0 && device < kMaxDevices, "cuda:", device, " is not a valid device index");
  std::lock_guard lock(mutex);
  auto& c = contexts[size_t(device)];
  if (!c) {
    int count = cuda_device_count();
    SG_CHECK(device < count, "cuda:", device, " requested, but this machine has ", count,
             " CUDA device(s)");
    SG_CUDA_CHECK(cudaSetDevice(device));
    auto made = std::make_unique<OwnedContext>();
    made->device = device;
    SG_CUDA_CHECK(
        cudaDeviceGetAttribute(&made->multiprocessors, cudaDevAttrMultiProcessorCount, device));
    SG_CUDA_CHECK(cudaStreamCreateWithFlags(&made->stream, cudaStreamNonBlocking));
    SG_CUBLAS_CHECK(cublasCreate(&made->cublas));
    SG_CUBLAS_CHECK(cublasSetStream(made->cublas, made->stream));
    SG_CUDNN_CHECK(cudnnCreate(&made->cudnn));
    SG_CUDNN_CHECK(cudnnSetStream(made->cudnn, made->stream));
    c = std::move(made);
  }
  SG_CUDA_CHECK(cudaSetDevice(device));
  return *c;
}

void check_launch(const char* kernel) {
  cudaError_t e = cudaGetLastError();
  SG_CHECK(e == cudaSuccess, "CUDA kernel ", kernel, " failed to launch: ", cudaGetErrorString(e));
}

}  // namespace cuda
}  // namespace sg
