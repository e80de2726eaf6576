// cuDNN convolutions through its v7-style API, which cuDNN 9 marks deprecated: this file alone
// silences those warnings (the graph API would replace it). Descriptors and the chosen
// algorithms are built once per full problem (shapes, strides, dtype, options) and cached; the
// workspace comes from the caching allocator. Half-precision (bf16) algorithms are chosen by
// timing them on the first call (cuDNN's Find, what PyTorch's cudnn.benchmark does), falling
// back to cuDNN's heuristics; SG_CUDNN_BENCHMARK=0 uses the heuristics alone. float32 and
// float64 keep the heuristics' choice: the fastest fp32 algorithms can be FFT-based ones, which
// round differently from the CPU kernels that the fp32 parity tests compare against. float32 runs
// in true fp32 (FMA math, so results match the CPU), bfloat16 on tensor cores with float
// accumulation.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/cuda_context.h"

namespace sg {

namespace {

constexpr size_t kMaxWorkspace = size_t(1) << 30;
// What Find may use while timing; algorithms that need more are skipped there (heuristics
// may still pick them, within kMaxWorkspace).
constexpr size_t kFindWorkspace = size_t(256) << 20;

bool benchmark_algorithms() {
  static const bool enabled = [] {
    const char* flag = std::getenv("SG_CUDNN_BENCHMARK");
    return !(flag != nullptr && std::strcmp(flag, "0") == 0);
  }();
  return enabled;
}

cudnnDataType_t cudnn_type(DType t) {
  switch (t) {
    case DType::Float32:
      return CUDNN_DATA_FLOAT;
    case DType::Float64:
      return CUDNN_DATA_DOUBLE;
    case DType::BFloat16:
      return CUDNN_DATA_BFLOAT16;
    case DType::Float16:
      return CUDNN_DATA_HALF;
    default:
      SG_CHECK(false, "conv2d: no cuDNN type for ", dtype_name(t));
  }
}

// Descriptors of one convolution problem, owned.
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnMathType_t math{};
  bool have_fwd = false, have_bwd_data = false, have_bwd_filter = false;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;

  ConvPlan(const Shape& xs, const Shape& ws, const Shape& ys, DType dtype, Conv2dOptions o) {
    cudnnDataType_t t = cudnn_type(dtype);
    SG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    SG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    SG_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    SG_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    SG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, t, int(xs[0]), int(xs[1]),
                                              int(xs[2]), int(xs[3])));
    SG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, t, int(ys[0]), int(ys[1]),
                                              int(ys[2]), int(ys[3])));
    SG_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, t, CUDNN_TENSOR_NCHW, int(ws[0]), int(ws[1]),
                                              int(ws[2]), int(ws[3])));
    SG_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
        conv, int(o.padding), int(o.padding), int(o.stride), int(o.stride), 1, 1,
        CUDNN_CROSS_CORRELATION, dtype == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT));
    math = dtype == DType::Float32   ? CUDNN_FMA_MATH
           : dtype == DType::Float64 ? CUDNN_DEFAULT_MATH
                                     : CUDNN_TENSOR_OP_MATH;
    SG_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math));
  }
  ~ConvPlan() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
};

// Whether an algorithm cuDNN reports with `found` math keeps the plan's: float32 plans must
// stay true fp32 (no TF32 tensor cores), so that GPU results match the CPU's.
bool keeps_math(cudnnMathType_t plan, cudnnMathType_t found) {
  return plan != CUDNN_FMA_MATH || found == CUDNN_FMA_MATH || found == CUDNN_DEFAULT_MATH;
}

// The first of cuDNN's ranked algorithms (by measured time from Find, by estimate from the
// heuristics) that succeeded, fits the workspace limit and keeps the plan's math. False when
// none does.
template <typename Perf>
bool pick(const Perf* perf, int count, cudnnMathType_t math, decltype(Perf::algo)& algo,
          size_t& workspace) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kMaxWorkspace &&
        keeps_math(math, perf[i].mathType)) {
      algo = perf[i].algo;
      workspace = perf[i].memory;
      return true;
    }
  return false;
}

// Fills algo and workspace for one pass: find(perf, &count, ws, ws_bytes) times the
// algorithms on the call's own buffers, heuristic(perf, &count) ranks them without running.
template <typename Perf, int kCount, typename Find, typename Heuristic>
void choose(const char* what, cudnnMathType_t math, Device device, Find find, Heuristic heuristic,
            decltype(Perf::algo)& algo, size_t& workspace) {
  Perf perf[kCount];
  int count = 0;
  if (math == CUDNN_TENSOR_OP_MATH && benchmark_algorithms()) {
    Tensor ws = Tensor::empty({int64_t(kFindWorkspace / 8)}, DType::Int64, device);
    SG_CUDNN_CHECK(find(perf, &count, ws.raw_data(), kFindWorkspace));
    if (pick(perf, count, math, algo, workspace)) return;
  }
  SG_CUDNN_CHECK(heuristic(perf, &count));
  SG_CHECK(pick(perf, count, math, algo, workspace), "cuDNN offers no ", what,
           " algorithm for this convolution");
}

ConvPlan& plan_for(int device, const Shape& xs, const Shape& ws, const Shape& ys, DType dtype,
                   Conv2dOptions o) {
  static std::map<std::string, std::unique_ptr<ConvPlan>> cache;  // explicit cache
  static std::mutex mutex;
  std::ostringstream key;
  key << device << '|' << shape_str(xs) << shape_str(ws) << '|' << int(dtype) << '|' << o.stride
      << '|' << o.padding;
  std::lock_guard lock(mutex);
  auto& p = cache[key.str()];
  if (!p) p = std::make_unique<ConvPlan>(xs, ws, ys, dtype, o);
  return *p;
}

Tensor workspace(size_t bytes, Device device) {
  return Tensor::empty({int64_t((bytes + 7) / 8)}, DType::Int64, device);
}

const float kOneF = 1, kZeroF = 0;
const double kOneD = 1, kZeroD = 0;
const void* one(DType t) { return t == DType::Float64 ? static_cast<const void*>(&kOneD) : &kOneF; }
const void* zero(DType t) {
  return t == DType::Float64 ? static_cast<const void*>(&kZeroD) : &kZeroF;
}

}  // namespace

namespace {
// Contiguous, and in dtype `dtype` (mixed precision: float32 master weights meet bf16 data).
Tensor as_input(Backend& backend, const Tensor& t, DType dtype) {
  if (t.is_contiguous() && t.dtype() == dtype) return t;
  Tensor c = Tensor::empty(t.shape(), dtype, t.device());
  backend.copy(c, t);
  return c;
}

// Weights converted for mixed precision once per optimizer step, not once per call: cached by
// storage and version (an explicit cache; entries go when their weights do).
Tensor weights_as(Backend& backend, const Tensor& w, DType dtype) {
  if (w.is_contiguous() && w.dtype() == dtype) return w;
  struct Entry {
    std::weak_ptr<Storage> storage;
    uint64_t version;
    Tensor converted;
  };
  static std::map<std::string, Entry> cache;
  static std::mutex mutex;
  std::string key = std::to_string(reinterpret_cast<uintptr_t>(w.storage().get())) + "@" +
                    std::to_string(w.offset()) + shape_str(w.shape()) + std::to_string(int(dtype));
  std::lock_guard lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end() && it->second.storage.lock() == w.storage() &&
      it->second.version == w.version())
    return it->second.converted;
  for (auto e = cache.begin(); e != cache.end();)
    e = e->second.storage.expired() ? cache.erase(e) : std::next(e);
  Tensor converted = as_input(backend, w, dtype);
  cache[key] = {w.storage(), w.version(), converted};
  return converted;
}
}  // namespace

Tensor CudaBackend::conv2d_forward(const Tensor& x_in, const Tensor& w_in, const Tensor& bias,
                                   Conv2dOptions o) {
  DType dt = x_in.dtype();
  Tensor x = as_input(*this, x_in, dt), w = weights_as(*this, w_in, dt);
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  Shape ys{xs[0], ws[0], (xs[2] + 2 * o.padding - ws[2]) / o.stride + 1,
           (xs[3] + 2 * o.padding - ws[3]) / o.stride + 1};
  Tensor y = empty(ys, dt);
  cuda::Context& c = cuda::context(device_);
  ConvPlan& p = plan_for(device_, xs, ws, ys, dt, o);
  if (!p.have_fwd) {
    constexpr int n = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    choose<cudnnConvolutionFwdAlgoPerf_t, n>(
        "forward", p.math, device(),
        [&](auto* perf, int* count, void* ws, size_t bytes) {
          return cudnnFindConvolutionForwardAlgorithmEx(c.cudnn, p.x, x.raw_data(), p.w,
                                                        w.raw_data(), p.conv, p.y, y.raw_data(), n,
                                                        count, perf, ws, bytes);
        },
        [&](auto* perf, int* count) {
          return cudnnGetConvolutionForwardAlgorithm_v7(c.cudnn, p.x, p.w, p.conv, p.y, n, count,
                                                        perf);
        },
        p.fwd, p.fwd_ws);
    p.have_fwd = true;
  }
  Tensor ws_buf = workspace(p.fwd_ws, device());
  SG_CUDNN_CHECK(cudnnConvolutionForward(c.cudnn, one(dt), p.x, x.raw_data(), p.w, w.raw_data(),
                                         p.conv, p.fwd, ws_buf.raw_data(), p.fwd_ws, zero(dt), p.y,
                                         y.raw_data()));
  if (bias.defined()) {
    Tensor b = as_input(*this, bias, dt);
    binary_inplace(BinaryOp::Add, y, b.as_strided({1, ys[1], 1, 1}, {0, 1, 0, 0}, 0));
  }
  return y;
}

Tensor CudaBackend::conv2d_backward_data(const Tensor& grad_y, const Tensor& w_in,
                                         const Shape& x_shape, Conv2dOptions o) {
  DType dt = grad_y.dtype();
  Tensor dy = as_input(*this, grad_y, dt), w = weights_as(*this, w_in, dt);
  Tensor dx = empty(x_shape, dt);
  cuda::Context& c = cuda::context(device_);
  ConvPlan& p = plan_for(device_, x_shape, w.shape(), dy.shape(), dt, o);
  if (!p.have_bwd_data) {
    constexpr int n = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    choose<cudnnConvolutionBwdDataAlgoPerf_t, n>(
        "backward-data", p.math, device(),
        [&](auto* perf, int* count, void* ws, size_t bytes) {
          return cudnnFindConvolutionBackwardDataAlgorithmEx(
              c.cudnn, p.w, w.raw_data(), p.y, dy.raw_data(), p.conv, p.x, dx.raw_data(), n, count,
              perf, ws, bytes);
        },
        [&](auto* perf, int* count) {
          return cudnnGetConvolutionBackwardDataAlgorithm_v7(c.cudnn, p.w, p.y, p.conv, p.x, n,
                                                             count, perf);
        },
        p.bwd_data, p.bwd_data_ws);
    p.have_bwd_data = true;
  }
  Tensor ws_buf = workspace(p.bwd_data_ws, device());
  SG_CUDNN_CHECK(cudnnConvolutionBackwardData(c.cudnn, one(dt), p.w, w.raw_data(), p.y,
                                              dy.raw_data(), p.conv, p.bwd_data, ws_buf.raw_data(),
                                              p.bwd_data_ws, zero(dt), p.x, dx.raw_data()));
  return dx;
}

Tensor CudaBackend::conv2d_backward_weight(const Tensor& grad_y, const Tensor& x_in,
                                           const Shape& w_shape, Conv2dOptions o) {
  DType dt = x_in.dtype();
  Tensor dy = as_input(*this, grad_y, dt), x = as_input(*this, x_in, dt);
  Tensor dw = empty(w_shape, dt);
  cuda::Context& c = cuda::context(device_);
  ConvPlan& p = plan_for(device_, x.shape(), w_shape, dy.shape(), dt, o);
  if (!p.have_bwd_filter) {
    constexpr int n = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
    choose<cudnnConvolutionBwdFilterAlgoPerf_t, n>(
        "backward-filter", p.math, device(),
        [&](auto* perf, int* count, void* ws, size_t bytes) {
          return cudnnFindConvolutionBackwardFilterAlgorithmEx(
              c.cudnn, p.x, x.raw_data(), p.y, dy.raw_data(), p.conv, p.w, dw.raw_data(), n, count,
              perf, ws, bytes);
        },
        [&](auto* perf, int* count) {
          return cudnnGetConvolutionBackwardFilterAlgorithm_v7(c.cudnn, p.x, p.y, p.conv, p.w, n,
                                                               count, perf);
        },
        p.bwd_filter, p.bwd_filter_ws);
    p.have_bwd_filter = true;
  }
  Tensor ws_buf = workspace(p.bwd_filter_ws, device());
  SG_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      c.cudnn, one(dt), p.x, x.raw_data(), p.y, dy.raw_data(), p.conv, p.bwd_filter,
      ws_buf.raw_data(), p.bwd_filter_ws, zero(dt), p.w, dw.raw_data()));
  // Weight gradients feed float32 master weights in mixed precision (as on the CPU).
  if (dt == DType::BFloat16 || dt == DType::Float16) return as_input(*this, dw, DType::Float32);
  return dw;
}

}  // namespace sg

#pragma GCC diagnostic pop
