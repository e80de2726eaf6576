#pragma once
// Threading for the CPU kernels: OpenMP, the runtime oneDNN itself uses here, so both share
// one thread pool and one thread count.
#include <omp.h>

#include <cstdint>

namespace sg {

void set_num_threads(int n);
int num_threads();

// f(begin, end) over [0, n) in contiguous chunks, one per thread; serial for small n where
// waking threads costs more than the work.
template <typename F>
void parallel_for(int64_t n, F f) {
  if (n < (int64_t(1) << 15)) {
    f(int64_t(0), n);
    return;
  }
#pragma omp parallel
  {
    int64_t threads = omp_get_num_threads(), id = omp_get_thread_num();
    int64_t chunk = (n + threads - 1) / threads;
    int64_t begin = id * chunk, end = begin + chunk < n ? begin + chunk : n;
    if (begin < end) f(begin, end);
  }
}

}  // namespace sg
