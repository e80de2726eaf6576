#!/usr/bin/env bash
# The main job: self-supervised pretraining of a CIFAR ResNet-18 (width 16) with SimSiam and
# guided stop-gradient on the bundled CIFAR-10 sample (1,000 training, 200 test images), 40 epochs,
# printing the kNN accuracy of the untrained and the trained network. About 2 minutes on 2
# cores after the build. Extra arguments go to train_cifar10 (e.g. --epochs 5).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
sg_install_missing_packages
sg_build >/dev/null
./build/examples/train_cifar10 --method simsiam-gsg --data data/cifar10-sample \
  --width 16 --dim 512 --pred-dim 128 --batch-size 64 --lr 0.05 --epochs 40 --knn-every 10 \
  --threads "$(nproc)" --out runs/demo "$@"
echo "What stop-gradient does, step by step: ./build/examples/stopgrad_demo (docs/stop-gradient.md)"
