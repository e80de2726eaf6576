#!/usr/bin/env bash
# Building stopgrad on the lent GPU machines (the `device` tool), which have nvcc, CMake, ninja
# and PyTorch but none of stopgrad's Debian -dev packages, and no network:
#
#   here (Debian, with network):  bash scripts/device-deps.sh fetch
#       downloads the packages' .debs (about 9 MB) into .deps/, which git ignores; pass
#       `.deps` in the device tool's `carry` list.
#   there:                        bash scripts/device-deps.sh build [cmake options...]
#       unpacks .deps/*.deb under /tmp/sgdeps (never into /), configures build-gpu/ against
#       them (cuDNN from /usr/local/cuda or from PyTorch's nvidia-cudnn wheel) and builds.
#   there, before running:        source scripts/device-deps.sh env
#       exports the library path the programs need at run time.
set -euo pipefail
prefix=/tmp/sgdeps
debs=(libdnnl2 libdnnl-dev ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers
      opencl-clhpp-headers libstb0 libstb-dev doctest-dev libcli11-dev nlohmann-json3-dev)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

sg_unpack() {
  if [ ! -d "$prefix/usr" ]; then
    ls "$root"/.deps/*.deb > /dev/null 2>&1 || {
      echo "device-deps: no .deps/*.deb (run 'bash scripts/device-deps.sh fetch' where Debian's mirrors are reachable, and carry .deps)" >&2
      return 1
    }
    mkdir -p "$prefix"
    for f in "$root"/.deps/*.deb; do dpkg-deb -x "$f" "$prefix"; done
  fi
  export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_PATH="$prefix/usr/lib/x86_64-linux-gnu/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$prefix"
}

# cuDNN's headers and library: the CUDA toolkit's, else the nvidia-cudnn wheel PyTorch uses.
sg_cudnn_options() {
  [ -f /usr/local/cuda/include/cudnn.h ] && return 0
  local dir
  dir=$(python3 -c 'import os, nvidia.cudnn as m; print(os.path.dirname(m.__file__))' 2>/dev/null) || return 0
  local lib
  lib=$(ls "$dir"/lib/libcudnn.so* 2>/dev/null | head -n 1)
  [ -n "$lib" ] && echo "-DCUDNN_INCLUDE_DIR=$dir/include -DCUDNN_LIBRARY=$lib"
}

case "${1:-}" in
  fetch)
    mkdir -p "$root/.deps"
    (cd "$root/.deps" && apt-get download "${debs[@]}")
    du -sh "$root/.deps"
    ;;
  env)
    sg_unpack
    ;;
  build)
    shift
    sg_unpack
    # shellcheck disable=SC2046
    cmake -S "$root" -B "$root/build-gpu" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix/usr" -DCMAKE_CXX_FLAGS="-isystem $prefix/usr/include" \
      -DCMAKE_CUDA_FLAGS="-isystem=$prefix/usr/include" $(sg_cudnn_options) "$@"
    cmake --build "$root/build-gpu" -j"$(nproc)"
    ;;
  *)
    [ "${BASH_SOURCE[0]}" != "$0" ] || { sed -n '2,14p' "$0"; exit 2; }
    ;;
esac
