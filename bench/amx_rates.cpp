// How fast this CPU's AMX units can multiply bf16 matrices, and how much of that the training
// step's products get: the ceiling behind docs/PERFORMANCE.md's "why 3x PyTorch is out of reach".
//   1. the register peak: TDPBF16PS on tiles already loaded (no memory traffic);
//   2. the same four products per step with their four tiles loaded from a buffer of a given
//      size: what L1, L2 and beyond can feed;
//   3. the products of the step (ResNet-18 width 64, batch 64, the last stage's im2col products)
//      through oneDNN's AMX matmul, with the weight operand as the step passes it (each column
//      contiguous) and in the layout oneDNN picks;
//   4. the same products through stopgrad's tile kernel (engine/onednn/amx_matmul.h) on
//      operands packed in tile order, the kernel the amx tier runs them on.
//   build/bench/amx_rates   (threads: OMP_NUM_THREADS, default all; prints a note and exits 0
//                            where the CPU or the kernel offers no AMX)
#include <immintrin.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine/onednn/amx_matmul.h"
#include "engine/onednn/context.h"

namespace {

// Tile rows are 64 bytes: on 64-byte boundaries (ScratchBuffer's) each is one cache line, not
// two. n values of `value`, in a buffer kept by the caller.
template <typename T>
T* filled(sg::onednn::ScratchBuffer& buffer, size_t n, T value) {
  T* data = reinterpret_cast<T*>(buffer.get(n * sizeof(T)));
  std::fill_n(data, n, value);
  return data;
}

constexpr double kFlopsPerProduct = 2.0 * 16 * 16 * 32;  // one TDPBF16PS

template <typename F>
double best_ms(int repeats, F run) {
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    best = std::min(
        best,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// 1 and 2: `steps` rounds of four products on each thread; with `buffer_bytes` > 0 each round
// first loads its four tiles from successive places of the thread's buffer of that size. The
// slowest thread's time, from a common start.
double product_rounds_ms(int64_t steps, size_t buffer_bytes) {
  double slowest = 0;
#pragma omp parallel reduction(max : slowest)
  {
    sg::onednn::amx::configure_tiles();
    const size_t tiles = std::max<size_t>(buffer_bytes / 1024, 4);
    sg::onednn::ScratchBuffer buffer;
    const uint16_t* p = filled<uint16_t>(buffer, tiles * 512, 0x3f80);  // 1.0 in bf16
    _tile_loadd(4, p, 64);
    _tile_loadd(5, p, 64);
    _tile_loadd(6, p, 64);
    _tile_loadd(7, p, 64);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
#pragma omp barrier
    auto t0 = std::chrono::steady_clock::now();
    size_t t = 0;
    for (int64_t i = 0; i < steps; ++i) {
      // Each load as late as its first product needs it: a tile is not renamed, so loading
      // one that the previous round's last product still reads would wait for it.
      if (buffer_bytes > 0) {
        _tile_loadd(4, p + t * 512, 64);
        _tile_loadd(6, p + (t + 1) * 512, 64);
      }
      _tile_dpbf16ps(0, 4, 6);
      if (buffer_bytes > 0) _tile_loadd(7, p + (t + 2) * 512, 64);
      _tile_dpbf16ps(1, 4, 7);
      if (buffer_bytes > 0) _tile_loadd(5, p + (t + 3) * 512, 64);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
      if (buffer_bytes > 0) t = t + 8 > tiles ? 0 : t + 4;
    }
    slowest =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    _tile_release();
  }
  return slowest;
}

double rounds_tflops(size_t buffer_bytes) {
  const int64_t steps = 1'000'000;
  double ms = 1e30;
  for (int i = 0; i < 3; ++i) ms = std::min(ms, product_rounds_ms(steps, buffer_bytes));
  return omp_get_max_threads() * steps * 4 * kFlopsPerProduct / ms / 1e9;
}

struct Product {
  const char* what;
  int64_t m, k, n;
};

// 3: oneDNN's matmul, bf16 operands, fp32 result, best of 15.
double onednn_ms(dnnl::engine& eng, dnnl::stream& s, const Product& p, bool weight_any) {
  using dnnl::memory;
  const auto bf16 = memory::data_type::bf16;
  memory::desc a({p.m, p.k}, bf16, memory::dims{p.k, 1});
  memory::desc b = weight_any ? memory::desc({p.k, p.n}, bf16, memory::format_tag::any)
                              : memory::desc({p.k, p.n}, bf16, memory::dims{1, p.k});
  memory::desc c({p.m, p.n}, memory::data_type::f32, memory::dims{p.n, 1});
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), eng);
  dnnl::matmul mm(pd);
  memory ma(pd.src_desc(), eng), mb(pd.weights_desc(), eng), mc(pd.dst_desc(), eng);
  std::fill_n(static_cast<uint16_t*>(ma.get_data_handle()), p.m * p.k, 0x3f80);
  std::fill_n(static_cast<uint16_t*>(mb.get_data_handle()), pd.weights_desc().get_size() / 2,
              0x3f80);
  return best_ms(15, [&] {
    mm.execute(s, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
    s.wait();
  });
}

double packed_ms(const Product& p) {
  const size_t c_size = size_t(p.m * p.n);
  sg::onednn::ScratchBuffer a_buffer, b_buffer, c_buffer;
  const uint16_t* a = filled<uint16_t>(a_buffer, size_t(p.m * p.k), 0x3f80);
  const uint16_t* b = filled<uint16_t>(b_buffer, size_t(p.k * p.n), 0x3f80);
  float* c = filled(c_buffer, c_size, 0.f);
  double ms = best_ms(15, [&] { sg::onednn::amx::matmul(a, b, p.m, p.k, p.n, c, p.n); });
  // All ones in, so every entry of C is k: a check that the tile indexing covers C once.
  for (size_t i = 0; i < c_size; ++i)
    if (float v = c[i]; v != float(p.k)) {
      std::fprintf(stderr, "amx_rates: packed product gave %g where %lld was expected\n", v,
                   static_cast<long long>(p.k));
      std::exit(1);
    }
  return ms;
}

}  // namespace

int main() {
  if (!sg::onednn::amx::usable()) {
    std::printf("amx_rates: this CPU (or its kernel) offers no AMX bf16; nothing to measure\n");
    return 0;
  }
  const int threads = omp_get_max_threads();
  std::printf("AMX bf16, %d thread(s)\n", threads);
  std::printf("register peak (TDPBF16PS on loaded tiles):   %6.2f TFLOP/s\n", rounds_tflops(0));
  for (size_t kb : {16, 32, 256, 1024, 4096, 32768})
    std::printf("four tile loads per four products, %6zu KB: %6.2f TFLOP/s\n", kb,
                rounds_tflops(kb * 1024));

  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  std::printf("\n%-44s %17s %8s %8s %8s  (ms, TFLOP/s)\n", "product", "m x k x n", "oneDNN",
              "any B", "packed");
  for (const Product& p : {
           Product{"512->512 3x3 at 4x4: forward, backward data", 1024, 4608, 512},
           Product{"256->512 3x3 stride 2 at 4x4: forward", 1024, 2304, 512},
           Product{"512->256 stride 2: backward data (dy x W)", 1024, 512, 2304},
           Product{"512x512 3x3 weight gradient at 4x4", 512, 1024, 4608},
           Product{"256x256 3x3 weight gradient at 8x8", 256, 4096, 2304},
       }) {
    const double flops = 2.0 * p.m * p.k * p.n;
    double plain = onednn_ms(eng, s, p, false), any = onednn_ms(eng, s, p, true);
    double packed = packed_ms(p);
    std::printf("%-44s %5lld x%5lld x%5lld %8.3f %8.3f %8.3f  (%.2f, %.2f, %.2f)\n", p.what,
                static_cast<long long>(p.m), static_cast<long long>(p.k),
                static_cast<long long>(p.n), plain, any, packed, flops / plain / 1e9,
                flops / any / 1e9, flops / packed / 1e9);
  }
}
