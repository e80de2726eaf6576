#pragma once
// conv2d for bfloat16 activations, 3x3, stride 1, padding 1, by Winograd's F(2x2, 3x3) —
// forward, backward-data and backward-weight: our own AVX-512 BF16 kernels, because oneDNN 2.6
// has no bf16 Winograd and its bf16 direct kernels already run at the machine's bf16
// dot-product peak. F(2x2, 3x3) computes each 2x2 output tile from a 4x4 input tile with 16
// multiplications per channel pair instead of 36. The transforms run in float32 and round once
// to bfloat16 before the dot products, which accumulate in float32 (tolerance in
// tests/engine/test_onednn.cpp).
//
// Layouts are oneDNN's: activations nChw16c bf16 (the layout oneDNN's bf16 convolutions and
// batch norm hand over between layers); transformed weights [16][K/32][C/2][32][2] bf16, pairs
// of input channels side by side as `vdpbf16ps` consumes them.
#include <cstdint>

namespace sg::onednn::winograd_bf16 {

// Channels of both sides must fill whole nChw16c blocks.
inline bool applies(int64_t in_channels, int64_t out_channels, int64_t kh, int64_t kw,
                    int64_t stride, int64_t padding) {
  return kh == 3 && kw == 3 && stride == 1 && padding == 1 && in_channels % 16 == 0 &&
         out_channels % 16 == 0;
}

// Elements of the transformed weights for in_channels x out_channels.
inline int64_t weights_size(int64_t in_channels, int64_t out_channels) {
  return 16 * in_channels * out_channels;
}

// w: float32 [K][C][3][3], contiguous. Writes U for the forward convolution (in = C, out = K),
// or, with `for_backward_data`, for the convolution that maps output gradients to input
// gradients (in = K, out = C, the kernel rotated by 180 degrees).
void transform_weights(const float* w, int64_t k, int64_t c, bool for_backward_data, uint16_t* u,
                       int threads);

struct Problem {
  int64_t batch, in_channels, out_channels, height, width;
};

// Bytes of scratch memory for a call with `threads` OpenMP threads, and the call itself
// (`scratch` 64-byte aligned).
int64_t scratch_bytes(const Problem& p, int threads);
void convolve(const Problem& p, const uint16_t* src, const uint16_t* u, uint16_t* dst,
              char* scratch, int threads);

// The weight gradient of the forward convolution: x is its input (nChw16c, in_channels), dy
// the gradient of its output (nChw16c, out_channels); writes dw, float32 [K][C][3][3].
int64_t weight_grad_scratch_bytes(const Problem& p, int threads);
void weight_grad(const Problem& p, const uint16_t* x, const uint16_t* dy, float* dw, char* scratch,
                 int threads);

}  // namespace sg::onednn::winograd_bf16
