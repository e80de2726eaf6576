// oneDNN's convolution kernels on ResNet-18's stride-1 3x3 shapes (batch 64): direct and
// Winograd in float32, direct in bfloat16, and our bf16 Winograd kernels
// (engine/onednn/conv2d_winograd_bf16.h; plus the per-update weight transform of the forward
// and backward-data passes), each pass timed separately (mean of 3 after one warm-up run). Explains
// the algorithm choice in engine/onednn/conv2d.cpp; see docs/PERFORMANCE.md.
//   build/bench/conv_algorithms   (threads: OMP_NUM_THREADS, default all)
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <unordered_map>
#include <vector>

#include "engine/onednn/context.h"
#include "engine/onednn/conv2d_winograd_bf16.h"
#include "engine/onednn/kernel_choice.h"

using namespace dnnl;

namespace {
double time_ms(const primitive& p, stream& s, const std::unordered_map<int, memory>& args) {
  p.execute(s, args);
  s.wait();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) p.execute(s, args);
  s.wait();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 3 * 1e3;
}

template <typename F>
double time_ms(F run) {
  run();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 3 * 1e3;
}

// Our kernel on the same shape (data values do not matter for its speed).
void time_winograd_bf16(int C, int H) {
  namespace wb = sg::onednn::winograd_bf16;
  if (!sg::onednn::avx512_bf16_usable()) {
    std::printf("%3dx%-2dx%-2d  %-16s  not available (no AVX-512 BF16)\n", C, H, H,
                "bf16 winograd");
    return;
  }
  int threads = omp_get_max_threads();
  wb::Problem p{64, C, C, H, H};
  std::vector<float> w(size_t(C) * C * 9, 0.01f);
  std::vector<uint16_t> src(size_t(64) * C * H * H, 0x3f80), dst(src.size());
  std::vector<uint16_t> u(size_t(wb::weights_size(C, C)));
  std::vector<float> dw(w.size());
  sg::onednn::ScratchBuffer scratch;
  char* aligned = scratch.get(
      size_t(std::max(wb::scratch_bytes(p, threads), wb::weight_grad_scratch_bytes(p, threads))));
  double transform =
      time_ms([&] { wb::transform_weights(w.data(), C, C, false, u.data(), threads); });
  double f = time_ms([&] { wb::convolve(p, src.data(), u.data(), dst.data(), aligned, threads); });
  wb::transform_weights(w.data(), C, C, true, u.data(), threads);
  double d = time_ms([&] { wb::convolve(p, src.data(), u.data(), dst.data(), aligned, threads); });
  double g =
      time_ms([&] { wb::weight_grad(p, src.data(), dst.data(), dw.data(), aligned, threads); });
  std::printf(
      "%3dx%-2dx%-2d  %-16s %9.1f %9.1f %9.1f  stopgrad F(2x2,3x3) avx512_bf16, weight "
      "transform %.2f ms\n",
      C, H, H, "bf16 winograd", f, d, g, transform);
}
}  // namespace

int main() {
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  std::printf("%-10s %-16s %9s %9s %9s  %s\n", "shape", "kernel", "fwd ms", "bwd-data", "bwd-wts",
              "implementation");
  for (auto [C, H] : std::vector<std::pair<int, int>>{{64, 32}, {128, 16}, {256, 8}, {512, 4}}) {
    memory::dims x{64, C, H, H}, w{C, C, 3, 3};
    time_winograd_bf16(C, H);
    struct Variant {
      const char* name;
      algorithm alg;
      memory::data_type dt;
    };
    for (auto v :
         {Variant{"f32 direct", algorithm::convolution_direct, memory::data_type::f32},
          Variant{"f32 winograd", algorithm::convolution_winograd, memory::data_type::f32},
          Variant{"bf16 direct", algorithm::convolution_direct, memory::data_type::bf16}}) {
      auto any = [&](memory::dims d) { return memory::desc(d, v.dt, memory::format_tag::any); };
      try {
        convolution_forward::primitive_desc fwd(
            {prop_kind::forward_training, v.alg, any(x), any(w), any(x), {1, 1}, {1, 1}, {1, 1}},
            eng);
        convolution_backward_data::primitive_desc bwd_d(
            {v.alg, any(x), any(w), any(x), {1, 1}, {1, 1}, {1, 1}}, eng, fwd);
        convolution_backward_weights::primitive_desc bwd_w(
            {v.alg, any(x), any(w), any(x), {1, 1}, {1, 1}, {1, 1}}, eng, fwd);
        auto mem = [&](const memory::desc& d) { return memory(d, eng); };
        double f = time_ms(convolution_forward(fwd), s,
                           {{DNNL_ARG_SRC, mem(fwd.src_desc())},
                            {DNNL_ARG_WEIGHTS, mem(fwd.weights_desc())},
                            {DNNL_ARG_DST, mem(fwd.dst_desc())}});
        double d = time_ms(convolution_backward_data(bwd_d), s,
                           {{DNNL_ARG_DIFF_SRC, mem(bwd_d.diff_src_desc())},
                            {DNNL_ARG_WEIGHTS, mem(bwd_d.weights_desc())},
                            {DNNL_ARG_DIFF_DST, mem(bwd_d.diff_dst_desc())}});
        double g = time_ms(convolution_backward_weights(bwd_w), s,
                           {{DNNL_ARG_SRC, mem(bwd_w.src_desc())},
                            {DNNL_ARG_DIFF_WEIGHTS, mem(bwd_w.diff_weights_desc())},
                            {DNNL_ARG_DIFF_DST, mem(bwd_w.diff_dst_desc())}});
        std::printf("%3dx%-2dx%-2d  %-16s %9.1f %9.1f %9.1f  %s\n", C, H, H, v.name, f, d, g,
                    fwd.impl_info_str());
      } catch (const dnnl::error&) {
        std::printf("%3dx%-2dx%-2d  %-16s  not available\n", C, H, H, v.name);
      }
    }
  }
  return 0;
}
