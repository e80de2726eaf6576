#!/usr/bin/env bash
# eval_cifar10 on a checkpoint train_cifar10 just wrote: kNN must equal the training run's final
# kNN, the linear probe must print linear_top1, features must be an .npy of [N, feature_dim],
# and a bad option value must be refused with a clear message.
#   usage: eval.sh TRAIN_CIFAR10 EVAL_CIFAR10 SAMPLE_DIR WORKDIR
set -euo pipefail
train="$1" eval="$2" data="$3" work="$4"
rm -rf "$work" && mkdir -p "$work"
"$train" --method simsiam-gsg --data "$data" --width 4 --dim 32 --pred-dim 8 --batch-size 64 \
  --epochs 1 --threads 1 --out "$work/run" > /dev/null
expected=$(tail -1 "$work/run/metrics.jsonl" | sed -E 's/.*"knn_top1":([0-9.e-]+).*/\1/')
got=$("$eval" knn --data "$data" --weights "$work/run/checkpoint.safetensors" --threads 1 | awk '/^knn_top1:/ {print $2}')
awk -v a="$expected" -v b="$got" 'BEGIN { if (a - b > 1e-4 || b - a > 1e-4) { print "knn " b " != training run " a; exit 1 } }'
"$eval" linear --data "$data" --weights "$work/run/checkpoint.safetensors" --epochs 5 | grep -E '^linear_top1: 0\.[0-9]+$'
"$eval" features --data "$data" --weights "$work/run/checkpoint.safetensors" --split test --out "$work/f.npy" > /dev/null
# 200 test images x 32 features x 4 bytes + the 128-byte .npy header
[ "$(stat -c %s "$work/f.npy")" -eq $((200 * 32 * 4 + 128)) ]
head -c 6 "$work/f.npy" | grep -q NUMPY
# A bad value is refused with the option, what it expects and a non-zero exit.
if out=$("$eval" knn --data "$data" --weights "$work/run/checkpoint.safetensors" --knn-k 0 2>&1); then
  echo "--knn-k 0 was accepted"; exit 1
fi
grep -qF -- "--knn-k: expected a number > 0, got '0'" <<< "$out"
echo "eval_cifar10 agrees with the training run (knn_top1 $got)"
