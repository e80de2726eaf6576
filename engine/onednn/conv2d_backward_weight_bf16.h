#pragma once
// The bf16 weight gradient of strided convolutions (ResNet's stride-2 3x3 and 1x1 layers) on
// AVX-512 BF16: for each tap, dW_tap [K x C] = dY^T [K x positions] x_tap [positions x C],
// with `vdpbf16ps` summing over pairs of positions (bf16_pair_products.h, the micro-kernel of
// the Winograd weight gradient). oneDNN 2.6's bf16 kernel for these runs at 290-450 GFLOP/s on
// AMD Zen 5, a third to a half of the dot products' rate (docs/PERFORMANCE.md).
//
// Layouts: x and dy nChw16c bf16 (as the other bf16 kernels hand them over), dw float32
// [K][C][R][S]. x's pixels under each tap are copied into rows of C channels for a chunk of
// positions at a time, dy's into pairs of positions side by side.
#include <cstdint>

namespace sg::onednn::backward_weight_bf16 {

// Channels must fill whole nChw16c blocks; a kernel's taps fit one 16-lane vector.
inline bool applies(int64_t in_channels, int64_t out_channels, int64_t kh, int64_t kw) {
  return in_channels % 16 == 0 && out_channels % 16 == 0 && kh * kw <= 16;
}

struct Problem {
  int64_t batch, in_channels, out_channels, height, width;  // x
  int64_t kernel_h, kernel_w, stride, padding;
  int64_t out_h, out_w;  // dy
};

// Bytes of scratch memory for a call with `threads` OpenMP threads, and the call itself
// (`scratch` 64-byte aligned).
int64_t scratch_bytes(const Problem& p, int threads);
void weight_grad(const Problem& p, const uint16_t* x, const uint16_t* dy, float* dw, char* scratch,
                 int threads);

}  // namespace sg::onednn::backward_weight_bf16
