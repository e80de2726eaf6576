#pragma once
// Training-mode BatchNorm(+ReLU) for bf16 activations in the layouts convolutions hand over:
// NHWC, which oneDNN's AMX convolutions choose, and nChw16c, which oneDNN's other bf16
// convolutions and our Winograd kernels write. oneDNN 2.6 has kernels for both, but in NHWC
// they run 1.7-2.5x slower than in nChw16c (ResNet-18's shapes at batch 64, 2 threads on an AMX
// Xeon: backward 1.80 ms against 0.73 at 64 channels x 32x32), and in nChw16c a residual
// block's join needs a pass of its own after them (add_relu); ours take the join into the
// normalising pass. C must be a multiple of 16. Statistics, scale and shift are float32;
// accumulation is float32 within blocks of rows and double across them.
//
// The ReLU mask is ours (one bit per element, a uint16 for each 16 channels of a pixel, in the
// order those vectors lie in memory), not oneDNN's workspace: forward_train writes it and only
// backward reads it (batch_norm.cpp keeps the two paired).
// Compiled for AVX-512 BF16; callers check onednn::avx512_bf16_usable().
#include <cstdint>

namespace sg::batch_norm_bf16 {

// Where an [N, C, H, W] tensor's elements lie: NHWC (each pixel's C channels together), or
// nChw16c (`blocked`: per image, C/16 planes of H*W pixels of 16 channels).
struct Layout {
  int64_t images, pixels, channels;  // N, H*W, C
  bool blocked;
  int64_t rows() const { return images * pixels; }  // pixels of all images
};

bool applies(int64_t channels);  // C a multiple of 16 (whole 512-bit vectors)
inline int64_t relu_mask_bytes(const Layout& l) { return l.rows() * l.channels / 8; }

// y = relu?(gamma * (x - mean) / sqrt(var + eps) + beta), with the batch mean and biased
// variance written to mean and var. gamma, beta may be null (1 and 0); relu_mask is null
// without ReLU.
//
// With a residual r (not null; relu_mask null then), y = max(bn(x) + r, 0) instead: a residual
// block's join (batch_norm_add_relu), bn(x) rounded to bf16 before the sum so that y has the
// bits of batch_norm then add_relu; backward reads where y > 0 from y itself.
void forward_train(const uint16_t* x, const Layout& layout, const float* gamma, const float* beta,
                   double eps, const uint16_t* residual, uint16_t* y, uint16_t* relu_mask,
                   float* mean, float* var);

// dx (and dgamma, dbeta unless null) for the saved batch statistics; dy passes only where the
// ReLU did, when relu_mask is not null.
void backward(const uint16_t* x, const uint16_t* dy, const uint16_t* relu_mask,
              const Layout& layout, const float* gamma, const float* mean, const float* var,
              double eps, uint16_t* dx, float* dgamma, float* dbeta);

}  // namespace sg::batch_norm_bf16
