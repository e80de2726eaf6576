#!/usr/bin/env bash
# Every GPU check in one call, for the lent GPU machines (the `device` tool: one H100/H200,
# nvcc, CMake, ninja and PyTorch, no Debian packages, no network, about 15 minutes in all).
#
#   here, once:   bash scripts/device-deps.sh fetch          # the Debian .debs into .deps/
#   rehearse:     bash scripts/gpu-check.sh --dry-run        # bash -n, the same build, the plan
#   there:        run(command="bash scripts/gpu-check.sh --part 1", carry=[".deps"], timeout_s=500)
#                 run(command="bash scripts/gpu-check.sh --part 2", carry=[".deps"], timeout_s=340)
#   (two calls because one command may run 10 minutes at most; the second finds build-gpu/
#   from the first while the machine is still warm, else it builds again)
#
# Steps, each under its own `timeout` and writing its own log under $OUT/gpu-check/ (or
# --out DIR), so one failure does not hide the rest; a summary line per step goes to
# summary.txt and stdout:
#   1 nvidia-smi (before)     5 bench/compare_gpu.sh: SimSiam width 64 batch 512, bf16 both
#   2 build for this GPU only 6 one 50,000-image SimSiam epoch (bf16, width 64, batch 512)
#   3 ctest -L gpu            7 nvidia-smi (after)
#   4 the CPU-vs-GPU SimSiam-GSG step test on its own
# --part 1 runs steps 1-4, --part 2 steps 5-7 (building first if build-gpu/ is missing).
# The epoch uses ../shared/data/cifar10-jpeg when the machine has it, else the bundled sample
# repeated 50 times (50,000 images). Exit status: the number of failed steps (0: all passed).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dry_run=0
part=all
out="${OUT:-$root/gpu-check-out}/gpu-check"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --out) out="$2/gpu-check"; shift 2 ;;
    --part)
      case "$2" in 1|2|all) part="$2" ;; *) echo "gpu-check.sh: --part expects 1, 2 or all, got '$2'" >&2; exit 2 ;; esac
      shift 2 ;;
    *) echo "gpu-check.sh: unknown option '$1' (expected --dry-run, --part 1|2|all or --out DIR)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
: >> "$out/summary.txt"
failed=0
build=build-gpu

# The GPU's compute capability as CMake wants it (9.0 -> 90); 90 (H100/H200) when unknown.
gpu_arch() {
  local cap
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .')
  echo "${cap:-90}"
}

# step NAME SECONDS COMMAND...: runs COMMAND under `timeout`, its output in NAME.log.
step() {
  local name="$1" seconds="$2"
  shift 2
  if [ "$dry_run" = 1 ]; then
    echo "[dry-run] $name (timeout ${seconds}s): $*" | tee -a "$out/summary.txt"
    return 0
  fi
  local t0=$SECONDS rc
  timeout --kill-after=10 "$seconds" "$@" > "$out/$name.log" 2>&1
  rc=$?
  local verdict=ok
  [ $rc -eq 0 ] || { verdict="FAILED (exit $rc$([ $rc -eq 124 ] && echo ', timed out'))"; failed=$((failed + 1)); }
  echo "$name: $verdict in $((SECONDS - t0)) s, log $out/$name.log" | tee -a "$out/summary.txt"
  tail -n 3 "$out/$name.log" | sed 's/^/    /'
}

for f in scripts/*.sh bench/*.sh tests/examples/*.sh; do
  bash -n "$f" || { echo "gpu-check.sh: $f does not parse" >&2; exit 2; }
done

epoch_data=../shared/data/cifar10-jpeg
epoch_args=(--data "$epoch_data")
if [ ! -d "$epoch_data/train" ]; then
  epoch_data=data/cifar10-sample
  epoch_args=(--data "$epoch_data" --repeat-train 50)
fi

first=1; second=1
[ "$part" = 2 ] && first=0
[ "$part" = 1 ] && second=0
[ $first = 1 ] && step 1-nvidia-smi-before 15 nvidia-smi
if [ "$dry_run" = 1 ]; then
  # The same build as on the GPU machine (same script, same flags), for this machine's CPU.
  echo "[dry-run] building with: bash scripts/device-deps.sh build -DCMAKE_CUDA_ARCHITECTURES=90"
  bash scripts/device-deps.sh build -DCMAKE_CUDA_ARCHITECTURES=90 > "$out/2-build.log" 2>&1 ||
    { echo "gpu-check.sh: the build failed, see $out/2-build.log" >&2; exit 1; }
  echo "[dry-run] build ok (log $out/2-build.log)"
  for t in "$build/bench/train_step" "$build/examples/train_cifar10" "$build/tests/test_cuda"; do
    [ -x "$t" ] || { echo "gpu-check.sh: $t was not built" >&2; exit 1; }
  done
elif [ $first = 1 ] || [ ! -x "$build/examples/train_cifar10" ]; then
  step 2-build 240 bash scripts/device-deps.sh build -DCMAKE_CUDA_ARCHITECTURES="$(gpu_arch)"
fi
# Run time: the unpacked Debian libraries (oneDNN) on the library path.
# shellcheck disable=SC1091
source scripts/device-deps.sh env 2>/dev/null || true
if [ $first = 1 ]; then
  step 3-ctest-gpu 120 ctest --test-dir "$build" -L gpu --output-on-failure
  step 4-gsg-step-cpu-vs-gpu 60 ctest --test-dir "$build" -R 'cuda.simsiam_gsg_step_matches_cpu' \
    --output-on-failure
fi
if [ $second = 1 ]; then
  step 5-compare-gpu 150 env BUILD="$build" bash bench/compare_gpu.sh --rounds 3
  step 6-epoch-50k 120 "$build/examples/train_cifar10" --device cuda --precision bf16 \
    --method simsiam --width 64 --batch-size 512 --epochs 1 --knn-every 0 "${epoch_args[@]}" \
    --out "$out/epoch-run"
  step 7-nvidia-smi-after 15 nvidia-smi
fi
echo "gpu-check: $failed step(s) failed; logs in $out" | tee -a "$out/summary.txt"
exit "$failed"
