#!/usr/bin/env bash
# train_cifar10 writes RUNDIR/report.html after every epoch: valid HTML (xmllint --html), one
# SVG plot per metric (kNN, loss, z_std, lr, images/s, GSG pair share, spectrum, effective
# rank), and examples/report draws two runs on shared axes with a legend; a missing run
# directory is refused by name.
#   usage: report.sh TRAIN_CIFAR10 REPORT SAMPLE_DIR WORKDIR
set -euo pipefail
train="$1" report="$2" data="$3" work="$4"
rm -rf "$work" && mkdir -p "$work"
common=(--data "$data" --width 4 --dim 32 --pred-dim 8 --batch-size 64 --threads 1)
"$train" --method simsiam-gsg "${common[@]}" --epochs 2 --out "$work/gsg" > /dev/null
"$train" --method simsiam "${common[@]}" --epochs 2 --out "$work/simsiam" > /dev/null
page="$work/gsg/report.html"
[ -f "$page" ] || { echo "no $page"; exit 1; }
xmllint --html --noout "$page"
for metric in knn_top1 loss z_std lr images_per_s gsg_pair_share z_spectrum z_effective_rank; do
  n=$(grep -c "<figure data-metric=\"$metric\">" "$page" || true)
  [ "$n" -eq 1 ] || { echo "$page: $n plots of $metric, expected 1"; exit 1; }
done
[ "$(grep -c '<svg ' "$page")" -eq 8 ] || { echo "$page: expected 8 SVG plots"; exit 1; }
! grep -qi '<script' "$page" || { echo "$page: the report must not need JavaScript"; exit 1; }
"$report" "$work/gsg" "$work/simsiam" --out "$work/compare.html" > /dev/null
xmllint --html --noout "$work/compare.html"
grep -q ">gsg</text>" "$work/compare.html" && grep -q ">simsiam</text>" "$work/compare.html" ||
  { echo "compare.html: no legend naming both runs"; exit 1; }
if out=$("$report" "$work/nope" --out "$work/x.html" 2>&1); then echo "a missing run was accepted"; exit 1; fi
grep -q "nope" <<< "$out" || { echo "the error does not name the directory: $out"; exit 1; }
echo "report.html valid with 8 plots; two-run comparison written"
