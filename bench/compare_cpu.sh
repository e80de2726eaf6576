#!/usr/bin/env bash
# stopgrad against PyTorch on the CPU, each precision against its fair peer: stopgrad fp32 vs
# PyTorch fp32, and stopgrad bf16 vs PyTorch bf16 autocast (PyTorch's fast CPU setting). The
# four runs alternate within every round, so a busy moment of the machine hits both sides;
# the summary is the median ratio over rounds. It first prints the CPU model, its bf16/AMX
# flags, the ISA oneDNN dispatches to and stopgrad's kernel table.
#   bash bench/compare_cpu.sh [--rounds 3] [--precision both|fp32|bf16] [train_step options...]
# e.g. bash bench/compare_cpu.sh --rounds 5 --method simsiam
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
precisions=(fp32 bf16)
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --precision)
      case "$2" in
        both) precisions=(fp32 bf16) ;;
        fp32|bf16) precisions=("$2") ;;
        *) echo "compare_cpu.sh: --precision expects both, fp32 or bf16, got '$2'" >&2; exit 2 ;;
      esac
      shift 2 ;;
    *)
      [ $# -ge 2 ] || { echo "compare_cpu.sh: option '$1' needs a value" >&2; exit 2; }
      args+=("$1" "$2"); shift 2 ;;
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

sg_defaults_unless_given "--width 64" "--batch 64" "--threads 2" "--steps 10" "--warmup 2"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)," \
     "flags: $(grep -o -w -E 'avx2|avx512f|avx512_bf16|amx_bf16|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
./build/bench/train_step --width 4 --batch 2 --image-size 8 --steps 1 --warmup 0 | sed -n '/^kernels:/,/^  matmul/p'
echo "PyTorch: $(/usr/bin/python3 -c 'import torch; print(torch.__version__, "oneDNN", torch.backends.mkldnn.is_available())')"

declare -A ratios
images_per_s() { awk '/^images\/s:/ {print $2}'; }
for r in $(seq 1 "$rounds"); do
  for prec in "${precisions[@]}"; do
    sg=$(./build/bench/train_step "${defaults[@]}" "${args[@]}" --precision "$prec" | images_per_s)
    pt=$(/usr/bin/python3 bench/torch_train_step.py "${defaults[@]}" "${args[@]}" --precision "$prec" | images_per_s)
    ratio=$(awk -v a="$sg" -v b="$pt" 'BEGIN {printf "%.3f", a / b}')
    ratios[$prec]+="$ratio "
    peer=$([ "$prec" = bf16 ] && echo "PyTorch bf16 autocast" || echo "PyTorch fp32")
    echo "round $r $prec: stopgrad $sg images/s, $peer $pt images/s, ratio $ratio"
  done
done
for prec in "${precisions[@]}"; do
  median=$(printf '%s\n' ${ratios[$prec]} | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
  echo "median ratio $prec (stopgrad $prec / PyTorch $([ "$prec" = bf16 ] && echo "bf16 autocast" || echo fp32)): $median"
done
