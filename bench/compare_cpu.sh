#!/usr/bin/env bash
# Runs stopgrad's bench/train_step and PyTorch's bench/torch_train_step.py alternately, several
# rounds, and prints each images/s and the median ratio stopgrad / PyTorch-fp32.
#   bash bench/compare_cpu.sh [--rounds 3] [--precision fp32|bf16] [train_step options...]
# The PyTorch side always runs fp32 (the issue's reference); --precision applies to stopgrad.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
sg_args=()
torch_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --precision) sg_args+=("$1" "$2"); shift 2 ;;
    *) sg_args+=("$1" "$2"); torch_args+=("$1" "$2"); shift 2 ;;
  esac
done
# The peer: Debian's PyTorch with OpenBLAS's OpenMP build (else it falls back to the reference BLAS).
for p in python3-torch libopenblas0-openmp; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-openmp >/dev/null
    break
  }
done
source scripts/deps.sh
sg_install_missing_packages
sg_build >/dev/null

defaults=(--width 64 --batch 64 --threads 2 --steps 10 --warmup 2)
ratios=()
for r in $(seq 1 "$rounds"); do
  sg=$(./build/bench/train_step "${defaults[@]}" "${sg_args[@]}" | awk '/^images\/s:/ {print $2}')
  pt=$(/usr/bin/python3 bench/torch_train_step.py "${defaults[@]}" "${torch_args[@]}" | awk '/^images\/s:/ {print $2}')
  ratio=$(awk -v a="$sg" -v b="$pt" 'BEGIN {printf "%.3f", a / b}')
  ratios+=("$ratio")
  echo "round $r: stopgrad $sg images/s, PyTorch $pt images/s, ratio $ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
echo "median ratio (stopgrad / PyTorch fp32): $median"
