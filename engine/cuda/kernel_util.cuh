#pragma once
// Shared pieces of the CUDA kernels: element types computed in float (bfloat16, half) or double,
// dtype dispatch, and the launch shape of flat loops (operand indexing: engine/cuda/indexer.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "engine/cuda/cuda_context.h"
#include "engine/cuda/indexer.h"
#include "engine/tensor.h"

namespace sg::cuda {

constexpr int kThreads = 256;

// Arithmetic type of an element type: half types compute in float.
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double,
                                 std::conditional_t<std::is_same_v<T, int64_t>, int64_t, float>>;

template <typename T>
__device__ __forceinline__ acc_t<T> load(const T* p) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __bfloat162float(*p);
  else if constexpr (std::is_same_v<T, __half>)
    return __half2float(*p);
  else
    return *p;
}

template <typename T, typename V>
__device__ __forceinline__ void store(T* p, V v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    *p = __float2bfloat16(float(v));
  else if constexpr (std::is_same_v<T, __half>)
    *p = __float2half(float(v));
  else
    *p = T(v);
}

inline int blocks_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return int(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

// f.template operator()<T>() with T the CUDA element type of `dtype`.
template <typename F>
void dispatch_floating(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    case DType::BFloat16:
      return f.template operator()<__nv_bfloat16>();
    case DType::Float16:
      return f.template operator()<__half>();
    default:
      SG_CHECK(false, op, ": no CUDA kernel for ", dtype_name(dtype));
  }
}

template <typename F>
void dispatch_all(DType dtype, const char* op, F&& f) {
  if (dtype == DType::Int64) return f.template operator()<int64_t>();
  dispatch_floating(dtype, op, std::forward<F>(f));
}

// Parameters and statistics next to an element type: float for float and the half types.
template <typename T>
using param_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

inline cudaStream_t stream_of(const Tensor& t) { return context(t.device().index).stream; }

}  // namespace sg::cuda

#define SG_GRID_STRIDE_LOOP(i, n)                                           \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += int64_t(blockDim.x) * gridDim.x)
