#!/usr/bin/env bash
# On a machine with a CUDA GPU: runs stopgrad's bench/train_step --device cuda and PyTorch's
# bench/torch_train_step.py --device cuda (eager, channels-last, bf16 autocast, cudnn.benchmark)
# alternately, several rounds, both at the same precision, and prints the median ratio.
#   bash bench/compare_gpu.sh [--rounds 3] [--precision bf16|fp32] [train_step options...]
# PYTHON names the interpreter that has a CUDA build of PyTorch (default: python3 on PATH);
# BUILD the build directory (default build/, built here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
precision=bf16
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --precision) precision="$2"; shift 2 ;;
    *) args+=("$1" "$2"); shift 2 ;;
  esac
done
python="${PYTHON:-python3}"
build="${BUILD:-build}"
[ -x "$build/bench/train_step" ] || { source scripts/deps.sh; sg_install_missing_packages; sg_build >/dev/null; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
"$python" -c "import torch; print('PyTorch', torch.__version__, 'cuDNN', torch.backends.cudnn.version())"

defaults=(--method simsiam --width 64 --batch 512 --steps 20 --warmup 5 --device cuda --precision "$precision")
ratios=()
for r in $(seq 1 "$rounds"); do
  sg=$("$build/bench/train_step" "${defaults[@]}" "${args[@]}" | awk '/^images\/s:/ {print $2}')
  pt=$("$python" bench/torch_train_step.py "${defaults[@]}" "${args[@]}" | awk '/^images\/s:/ {print $2}')
  ratio=$(awk -v a="$sg" -v b="$pt" 'BEGIN {printf "%.3f", a / b}')
  ratios+=("$ratio")
  echo "round $r: stopgrad $sg images/s, PyTorch $pt images/s, ratio $ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
echo "median ratio (stopgrad / PyTorch, both $precision on the GPU): $median"
