#!/usr/bin/env bash
# Rebuilds data/cifar10-sample/ from a CIFAR-10 binary directory (default: ../shared/data/
# cifar10-subset): the first 1,000 training and the first 200 test images, same format.
set -euo pipefail
cd "$(dirname "$0")/.."
src="${1:-../shared/data/cifar10-subset}"
out=data/cifar10-sample
record=3073
mkdir -p "$out"
head -c $((1000 * record)) "$src/data_batch_1.bin" > "$out/data_batch_1.bin"
head -c $((200 * record)) "$src/test_batch.bin" > "$out/test_batch.bin"
cp "$src/batches.meta.txt" "$out/batches.meta.txt"
cat > "$out/README.md" <<'TXT'
# CIFAR-10 sample

The first 1,000 training images (of official training batch 1) and the first 200 test images of
CIFAR-10 (Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009), in the
official binary format: 1 label byte + 3,072 pixel bytes per record. Made by
scripts/make-cifar10-sample.sh. Enough for the demo and for tests; the full dataset is what
scripts/get-cifar10.sh downloads.
TXT
ls -l "$out"
