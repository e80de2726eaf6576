#pragma once
// Training-mode BatchNorm(+ReLU) for bf16 activations in NHWC, the layout oneDNN's AMX
// convolutions choose. oneDNN 2.6 has kernels for it, but they run 1.7-2.5x slower than its
// kernels for the blocked nChw16c layout (ResNet-18's shapes at batch 64, 2 threads on an AMX
// Xeon: backward 1.80 ms against 0.73 at 64 channels x 32x32); these run near the blocked ones.
// The tensor is M = N*H*W rows of C channels, C a multiple of 16. Statistics, scale and shift
// are float32; accumulation is float32 within blocks of rows and double across them.
//
// The ReLU mask is ours (one bit per element, 16 channels to a uint16), not oneDNN's workspace:
// forward_train writes it and only backward reads it (batch_norm.cpp keeps the two paired).
// Compiled for AVX-512 BF16; callers check onednn::avx512_bf16_usable() (the amx tier implies it).
#include <cstdint>

namespace sg::batch_norm_nhwc_bf16 {

bool applies(int64_t channels);  // C a multiple of 16 (whole 512-bit vectors)
inline int64_t relu_mask_bytes(int64_t rows, int64_t channels) { return rows * channels / 8; }

// y = relu?(gamma * (x - mean) / sqrt(var + eps) + beta), with the batch mean and biased
// variance written to mean and var. gamma, beta may be null (1 and 0); relu_mask is null
// without ReLU.
//
// With a residual r (not null; relu_mask null then), y = max(bn(x) + r, 0) instead: a residual
// block's join (batch_norm_add_relu), bn(x) rounded to bf16 before the sum so that y has the
// bits of batch_norm then add_relu; backward reads where y > 0 from y itself.
void forward_train(const uint16_t* x, int64_t rows, int64_t channels, const float* gamma,
                   const float* beta, double eps, const uint16_t* residual, uint16_t* y,
                   uint16_t* relu_mask, float* mean, float* var);

// dx (and dgamma, dbeta unless null) for the saved batch statistics; dy passes only where the
// ReLU did, when relu_mask is not null.
void backward(const uint16_t* x, const uint16_t* dy, const uint16_t* relu_mask, int64_t rows,
              int64_t channels, const float* gamma, const float* mean, const float* var, double eps,
              uint16_t* dx, float* dgamma, float* dbeta);

}  // namespace sg::batch_norm_nhwc_bf16
