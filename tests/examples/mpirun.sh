#!/usr/bin/env bash
# train_cifar10 under `mpirun -np 2`: the run directory written once (world_size 2, sync_bn),
# a checkpoint one process loads (and eval_cifar10 under mpirun, sharded, prints what one process
# prints), --resume with the same ranks equal to the uninterrupted run,
# a batch that does not split evenly refused, and a rank killed with -9 ending the job (non-zero,
# within 30 s) with the last checkpoint intact for --resume.
#   usage: mpirun.sh MPIRUN TRAIN_CIFAR10 EVAL_CIFAR10 SAMPLE_DIR WORKDIR
set -euo pipefail
mpirun="$1" train="$2" eval="$3" data="$4" work="$5"
rm -rf "$work" && mkdir -p "$work"
fail() { echo "mpirun check failed: $*"; exit 1; }
launch=("$mpirun" --allow-run-as-root --oversubscribe -np 2)
# CLI11 refuses an option given twice, so the varying ones are added to `base` each time.
base=(--data "$data" --method simsiam-gsg --width 4 --dim 32 --pred-dim 8 --threads 1 --seed 3)
args=("${base[@]}" --batch-size 128 --epochs 2)

"${launch[@]}" "$train" "${args[@]}" --out "$work/full" > "$work/full.log"
grep -q '"world_size": 2' "$work/full/config.json" || fail "config.json lacks world_size 2"
grep -q '"sync_bn": true' "$work/full/config.json" || fail "config.json lacks sync_bn true"
[ "$(wc -l < "$work/full/metrics.jsonl")" -eq 3 ] || fail "metrics.jsonl should have 3 lines"
[ "$(grep -ao 'epoch   2  loss' "$work/full.log" | wc -l)" -eq 1 ] || fail "the epoch line should print once"
"$eval" knn --data "$data" --weights "$work/full/checkpoint.safetensors" --threads 1 |
  grep -qE '^knn_top1: 0\.[0-9]+$' || fail "one process could not load the checkpoint"
one=$("$eval" knn --data "$data" --weights "$work/full/checkpoint.safetensors" --threads 1)
two=$("${launch[@]}" "$eval" knn --data "$data" --weights "$work/full/checkpoint.safetensors" --threads 1)
[ "$one" = "$two" ] || fail "eval_cifar10 under mpirun printed '$two', one process '$one'"

"${launch[@]}" "$train" "${args[@]}" --out "$work/part" --stop-after 1 > /dev/null
"${launch[@]}" "$train" "${args[@]}" --out "$work/part" --resume > /dev/null
strip() { sed -E 's/"(images_per_s|seconds|knn_seconds|data_wait_s)":[^,}]*,?//g' "$1"; }
diff <(strip "$work/full/metrics.jsonl") <(strip "$work/part/metrics.jsonl") ||
  fail "the resumed 2-rank run differs from the uninterrupted one"
cmp "$work/full/checkpoint.safetensors" "$work/part/checkpoint.safetensors" ||
  fail "the resumed 2-rank run ends with another checkpoint"

if "${launch[@]}" "$train" "${base[@]}" --batch-size 63 --epochs 2 --out "$work/odd" > /dev/null 2> "$work/err"; then
  fail "a batch of 63 over 2 ranks was accepted"
fi
grep -q "not divisible by the 2 ranks" "$work/err" || fail "no message for the uneven batch"

# kill -9 one rank after the first epoch's checkpoint: the job ends, the checkpoint survives.
"${launch[@]}" "$train" "${base[@]}" --batch-size 128 --epochs 30 --out "$work/killed" > "$work/killed.log" 2>&1 &
job=$!
for _ in $(seq 600); do
  [ -s "$work/killed/checkpoint.safetensors" ] && break
  sleep 0.1
done
[ -s "$work/killed/checkpoint.safetensors" ] || fail "no checkpoint after the first epoch"
victim=$(pgrep -f -- "--out $work/killed" | while read -r p; do
  [ "$(cat /proc/$p/comm 2>/dev/null)" = train_cifar10 ] && echo "$p"; done | tail -n 1)
[ -n "$victim" ] || fail "no rank process found"
start=$(date +%s)
kill -9 "$victim"
status=0
wait "$job" || status=$?
elapsed=$(( $(date +%s) - start ))
[ "$status" -ne 0 ] || fail "the job exited 0 after a rank was killed"
[ "$elapsed" -le 30 ] || fail "the job took ${elapsed} s to end after a rank was killed"
"${launch[@]}" "$train" "${base[@]}" --batch-size 128 --epochs 30 --stop-after 2 --out "$work/killed" --resume \
  > "$work/resumed.log" || fail "--resume after the kill failed"
grep -q "resumed from the end of epoch" "$work/resumed.log" || fail "the run did not resume"
echo "2 ranks: trained, resumed, refused an uneven batch, ended ${elapsed} s after a kill -9"
