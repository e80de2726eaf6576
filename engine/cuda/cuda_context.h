#pragma once
// The CUDA backend's per-device state and error checks. Every kernel, copy and library call of
// a device runs on its one stream, so stream order alone keeps them correct; the host only waits
// where data leaves the device.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "engine/error.h"

#define SG_CUDA_CHECK(expr)                                                           \
  do {                                                                                \
    cudaError_t sg_status_ = (expr);                                                  \
    SG_CHECK(sg_status_ == cudaSuccess, #expr, ": ", cudaGetErrorString(sg_status_)); \
  } while (0)

#define SG_CUBLAS_CHECK(expr)                                                                      \
  do {                                                                                             \
    cublasStatus_t sg_status_ = (expr);                                                            \
    SG_CHECK(sg_status_ == CUBLAS_STATUS_SUCCESS, #expr, ": ", cublasGetStatusString(sg_status_)); \
  } while (0)

#define SG_CUDNN_CHECK(expr)                                                                    \
  do {                                                                                          \
    cudnnStatus_t sg_status_ = (expr);                                                          \
    SG_CHECK(sg_status_ == CUDNN_STATUS_SUCCESS, #expr, ": ", cudnnGetErrorString(sg_status_)); \
  } while (0)

namespace sg::cuda {

struct Context {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  int multiprocessors = 0;  // SMs, for sizing grids that must fill the GPU
};

// The device's context, created on first use; makes `device` current on this thread.
Context& context(int device);

// Checks the last kernel launch (launch errors surface here; execution errors at the next sync).
void check_launch(const char* kernel);

}  // namespace sg::cuda
