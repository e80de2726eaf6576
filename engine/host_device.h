#pragma once
// Marks small functions that both the CPU code and CUDA kernels call (compiled by g++ and nvcc).
#ifdef __CUDACC__
#define SG_HOST_DEVICE __host__ __device__
#else
#define SG_HOST_DEVICE
#endif
