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
# Valid HTML: xmllint's HTML parser reports nothing at all.
lint=$(xmllint --html --noout "$page" 2>&1)
[ -z "$lint" ] || { echo "xmllint: $lint"; exit 1; }
for metric in knn_top1 loss z_std lr images_per_s gsg_pair_share z_spectrum z_effective_rank; do
  n=$(grep -c "<div class=\"plot\" data-metric=\"$metric\">" "$page" || true)
  [ "$n" -eq 1 ] || { echo "$page: $n plots of $metric, expected 1"; exit 1; }
done
[ "$(grep -c 'src="data:image/svg+xml;base64,' "$page")" -eq 8 ] || { echo "$page: expected 8 SVG plots"; exit 1; }
# Each plot decodes to an SVG with labelled axes.
first=$(grep -m1 -o 'src="data:image/svg+xml;base64,[^"]*' "$page" | sed 's/.*base64,//' | base64 -d)
grep -q '>epoch</text>' <<< "$first" || { echo "the first plot has no labelled x axis"; exit 1; }
! grep -qi '<script' "$page" || { echo "$page: the report must not need JavaScript"; exit 1; }
"$report" "$work/gsg" "$work/simsiam" --out "$work/compare.html" > /dev/null
lint=$(xmllint --html --noout "$work/compare.html" 2>&1)
[ -z "$lint" ] || { echo "xmllint: $lint"; exit 1; }
legend=$(grep -m1 -o 'src="data:image/svg+xml;base64,[^"]*' "$work/compare.html" | sed 's/.*base64,//' | base64 -d)
grep -q ">gsg</text>" <<< "$legend" && grep -q ">simsiam</text>" <<< "$legend" ||
  { echo "compare.html: no legend naming both runs"; exit 1; }
# Run names longer than the legend's room that differ only at the end stay apart in it.
cp -r "$work/gsg" "$work/full-official-simsiam-gsg4-seed1"
cp -r "$work/gsg" "$work/full-official-simsiam-gsg4-seed2"
"$report" "$work/full-official-simsiam-gsg4-seed1" "$work/full-official-simsiam-gsg4-seed2" \
  --out "$work/long.html" > /dev/null
legend=$(grep -m1 -o 'src="data:image/svg+xml;base64,[^"]*' "$work/long.html" | sed 's/.*base64,//' | base64 -d)
entries=$(grep -o '>full-[^<>]*</text>' <<< "$legend" | sort -u | wc -l)
[ "$entries" -eq 2 ] || { echo "long.html: $entries distinct legend entries for two runs"; exit 1; }
if out=$("$report" "$work/nope" --out "$work/x.html" 2>&1); then echo "a missing run was accepted"; exit 1; fi
grep -q "nope" <<< "$out" || { echo "the error does not name the directory: $out"; exit 1; }
echo "report.html valid with 8 plots; two-run comparison written"
