#!/usr/bin/env bash
# train_cifar10 --resume: a run stopped after epoch 1 and resumed must write the same metrics
# (timings aside) and the same final checkpoint as an uninterrupted run; a resume with changed
# options, or from a damaged metrics.jsonl, must be refused with a message naming what is wrong.
#   usage: resume.sh TRAIN_CIFAR10 SAMPLE_DIR WORKDIR
set -euo pipefail
train="$1" data="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
args=(--method byol-gsg --data "$data" --width 4 --dim 32 --pred-dim 8 --batch-size 64 --threads 1 --seed 3 --epochs 2)
"$train" "${args[@]}" --out "$work/full" > /dev/null
"$train" "${args[@]}" --out "$work/part" --stop-after 1 > /dev/null
"$train" "${args[@]}" --out "$work/part" --resume > /dev/null
strip() { sed -E 's/"(images_per_s|seconds|knn_seconds|data_wait_s)":[^,}]*,?//g' "$1"; }
diff <(strip "$work/full/metrics.jsonl") <(strip "$work/part/metrics.jsonl")
cmp "$work/full/checkpoint.safetensors" "$work/part/checkpoint.safetensors"
if "$train" "${args[@]}" --out "$work/part" --resume --lr 0.5 2> "$work/err"; then
  echo "a resume with a changed --lr was accepted"; exit 1
fi
grep -q "option 'lr'" "$work/err"
"$train" "${args[@]}" --out "$work/cut" --stop-after 1 > /dev/null
printf '{"epoch": 1, "loss": \n' >> "$work/cut/metrics.jsonl"  # a line cut short
if "$train" "${args[@]}" --out "$work/cut" --resume > /dev/null 2> "$work/err"; then
  echo "a resume from a damaged metrics.jsonl was accepted"; exit 1
fi
grep -q "metrics.jsonl line 3 is not a metrics record" "$work/err"
echo "resume reproduces the uninterrupted run"
