#!/usr/bin/env bash
# Downloads the official CIFAR-10 binary archive (the version "suitable for C programs"),
# checks its size and MD5 against the published ones, and extracts the seven files
# train_cifar10 reads into DEST (default data/cifar10). Nothing is left half-written: the
# archive is downloaded to a temporary name, and DEST appears only once every file is there.
#   usage: bash scripts/get-cifar10.sh [DEST]
set -euo pipefail
dest="${1:-data/cifar10}"
# SG_CIFAR10_URL may name a mirror (or a file:// copy); the checksum still has to match.
url="${SG_CIFAR10_URL:-https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz}"
md5="c32a1d4ab5d03f1284b67883e8d87530"  # published on https://www.cs.toronto.edu/~kriz/cifar.html
bytes=170052171
files=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin
       test_batch.bin batches.meta.txt)

if [ -f "$dest/test_batch.bin" ] && [ -f "$dest/data_batch_5.bin" ]; then
  echo "CIFAR-10 is already in $dest"
  exit 0
fi
if ! command -v curl > /dev/null; then
  echo "installing: curl"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq curl > /dev/null
fi

parent="$(dirname "$dest")"
mkdir -p "$parent"
work="$(mktemp -d "$parent/.cifar10-download.XXXXXX")"
trap 'rm -rf "$work"' EXIT
archive="$work/cifar-10-binary.tar.gz"
if ! curl -fL --retry 3 -o "$archive" "$url"; then
  echo "get-cifar10: could not download $url" >&2
  exit 1
fi
got_bytes=$(stat -c %s "$archive")
if [ "$got_bytes" -ne "$bytes" ]; then
  echo "get-cifar10: $url has $got_bytes bytes, expected $bytes" >&2
  exit 1
fi
got_md5=$(md5sum "$archive" | cut -d' ' -f1)
if [ "$got_md5" != "$md5" ]; then
  echo "get-cifar10: $url has MD5 $got_md5, expected $md5" >&2
  exit 1
fi
tar -xzf "$archive" -C "$work" "${files[@]/#/cifar-10-batches-bin/}"
mkdir -p "$work/out"
for f in "${files[@]}"; do mv "$work/cifar-10-batches-bin/$f" "$work/out/$f"; done
rm -rf "$dest"
mv "$work/out" "$dest"
echo "CIFAR-10 (50,000 training and 10,000 test images) is in $dest"
echo "train with: ./build/examples/train_cifar10 --data $dest"
