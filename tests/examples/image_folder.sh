#!/usr/bin/env bash
# Users' own images: the bundled CIFAR-10 sample written as PNG folders trains with
# train_cifar10 --data FOLDER (resized to 24 pixels) and evaluates with eval_cifar10; --dump-views
# writes a PNG grid; bad folders fail with a message naming the problem.
#   usage: image_folder.sh CIFAR10_TO_FOLDER TRAIN_CIFAR10 EVAL_CIFAR10 SAMPLE_DIR WORKDIR
set -euo pipefail
to_folder="$1" train="$2" eval="$3" data="$4" work="$5"
rm -rf "$work" && mkdir -p "$work"
"$to_folder" --data "$data" --out "$work/folder" --limit 300 > /dev/null
[ "$(find "$work/folder/train" -name '*.png' | wc -l)" -eq 300 ]
[ "$(ls "$work/folder/test" | wc -l)" -eq 10 ]  # one sub-folder per class
ls "$work/folder/train" | grep -qx airplane

args=(--method simsiam-gsg --image-size 24 --blur 0.5 --width 4 --dim 32
      --pred-dim 8 --batch-size 64 --epochs 1 --threads 1)
"$train" "${args[@]}" --data "$work/folder" --dump-views "$work/views.png" | grep -q "wrote the 4 augmented views"  # GSG: four crops per image
head -c 8 "$work/views.png" | grep -q PNG
[ ! -e "$work/run" ]  # --dump-views only writes the grid
"$train" "${args[@]}" --data "$work/folder" --out "$work/run" > "$work/train.log"
grep -q '"image_size": 24' "$work/run/config.json"
grep -q '"knn_top1"' <(tail -n 1 "$work/run/metrics.jsonl")
"$eval" knn --data "$work/folder" --weights "$work/run/checkpoint.safetensors" --threads 1 \
  | grep -E '^knn_top1: 0\.[0-9]+$'

mkdir -p "$work/bad/train/cat" "$work/bad/test/cat"
printf 'not a png' > "$work/bad/train/cat/broken.png"
if "$train" "${args[@]}" --data "$work/bad" --out "$work/bad_run" 2> "$work/err"; then
  echo "a corrupt image was accepted"; exit 1
fi
grep -q "broken.png" "$work/err"
echo "image folders train, evaluate and dump views"
