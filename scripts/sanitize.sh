#!/usr/bin/env bash
# Builds everything with clang's AddressSanitizer and UndefinedBehaviorSanitizer into
# build-asan/ and runs the CPU test suite there; any sanitizer report fails its test. The CUDA
# backend is left out (device code is not instrumented), and so is MPI: Open MPI's own
# allocations at exit read as leaks, so the mpirun suite runs in the normal build only. Extra
# arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
sg_packages+=(clang libclang-rt-14-dev libomp-14-dev)
sg_install_missing_packages
if [ ! -f build-asan/build.ninja ]; then
  # -Wno-pass-failed: the sanitizers' checks keep clang from vectorising `omp simd` loops.
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSG_WITH_CUDA=OFF \
    -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-pass-failed" \
    >/dev/null
fi
cmake -S . -B build-asan -DSG_WITH_MPI=OFF >/dev/null  # also for a build-asan made before
cmake --build build-asan -j"$(nproc)"
cd build-asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j"$(nproc)" "$@"
