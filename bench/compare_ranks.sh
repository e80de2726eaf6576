#!/usr/bin/env bash
# Data-parallel scaling on one machine: the same training step (global batch B) run by one
# process with T threads and by T ranks of one thread each under mpirun (SyncBatchNorm, gradient
# all-reduce; layers/data_parallel.h). The two alternate within every round, so a busy moment of
# the machine hits both; the summary is the median ratio over rounds. The last round's
# data-parallel breakdown is printed in full (the all-reduce time per step is in it).
#   bash bench/compare_ranks.sh [--rounds 3] [--ranks 2] [train_step options...]
# e.g. bash bench/compare_ranks.sh --method simsiam --width 32 --batch 128
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
ranks=2
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --ranks) ranks="$2"; shift 2 ;;
    --threads) echo "compare_ranks.sh: the thread count is --ranks (one thread per rank)" >&2; exit 2 ;;
    *)
      [ $# -ge 2 ] || { echo "compare_ranks.sh: option '$1' needs a value" >&2; exit 2; }
      args+=("$1" "$2"); shift 2 ;;
  esac
done
source scripts/deps.sh
sg_install_missing_packages
sg_build >/dev/null

sg_defaults_unless_given "--method simsiam" "--width 32" "--batch 128" "--steps 10" "--warmup 2"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "step: ${defaults[*]} ${args[*]}"
images_per_s() { awk '/^images\/s:/ {print $2}'; }
ratios=""
for r in $(seq 1 "$rounds"); do
  one=$(./build/bench/train_step "${defaults[@]}" "${args[@]}" --threads "$ranks" | images_per_s)
  out=$(mpirun --allow-run-as-root --oversubscribe -np "$ranks" \
          ./build/bench/train_step "${defaults[@]}" "${args[@]}" --threads 1)
  many=$(echo "$out" | images_per_s)
  ratio=$(awk -v a="$many" -v b="$one" 'BEGIN {printf "%.3f", a / b}')
  ratios+="$ratio "
  echo "round $r: 1 process x $ranks threads $one images/s, $ranks ranks x 1 thread $many images/s, ratio $ratio"
done
echo "last data-parallel run:"
echo "$out" | sed -n '/^data-parallel:/p; /^resnet/,$p'
median=$(echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "median ratio ($ranks ranks x 1 thread / 1 process x $ranks threads): $median"
