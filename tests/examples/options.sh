#!/usr/bin/env bash
# train_cifar10's method and shape options: what config.json records for them, that eval_cifar10
# rebuilds the network from it, and the errors for what is not a method.
#   usage: options.sh TRAIN_CIFAR10 EVAL_CIFAR10 SAMPLE_DIR WORKDIR
set -euo pipefail
train="$1" eval="$2" data="$3" work="$4"
rm -rf "$work" && mkdir -p "$work"
fail() { echo "options check failed: $*"; exit 1; }
small=(--data "$data" --width 4 --dim 32 --pred-dim 8 --batch-size 64 --threads 1)

# Errors: a non-zero exit and a message naming the option.
expect_error() {  # expect_error TEXT ARGS...
  local text="$1"; shift
  if "$train" "${small[@]}" --out "$work/bad" "$@" > /dev/null 2> "$work/err"; then
    fail "'$*' was accepted"
  fi
  grep -q -- "$text" "$work/err" || fail "'$*': expected '$text' in: $(cat "$work/err")"
}
expect_error "gsg-views" --gsg-views 3
expect_error "tau-schedule" --tau-schedule linear
expect_error "proj-layers" --proj-layers 4
expect_error "does not apply to BYOL" --method byol --no-stop-grad
[ ! -e "$work/bad" ] || fail "a refused run wrote its directory"

# A run with every shape option changed from its default records each of them.
base=("$train" "${small[@]}" --method byol-gsg --tau-schedule cosine --tau 0.98 --proj-layers 2
      --proj-hidden 24 --no-zero-init-residual --epochs 2 --out "$work/run")
run=("${base[@]}" --gsg-views 2)
"${run[@]}" --stop-after 1 > "$work/train.log"
config="$work/run/config.json"
for field in '"gsg_views": 2' '"tau_schedule": "cosine"' '"tau": 0.98' '"proj_layers": 2' \
             '"proj_hidden": 24' '"zero_init_residual": false' '"k": 200' '"t": 0.2' \
             '"version": "' '"SG_WINOGRAD_BF16": '; do
  grep -qF "$field" "$config" || fail "config.json lacks $field"
done
grep -q '"data_wait_s"' <(tail -n 1 "$work/run/metrics.jsonl") || fail "no data_wait_s in metrics"
# The projector's shape comes back from the checkpoint's config.
"$eval" knn --data "$data" --weights "$work/run/checkpoint.safetensors" --threads 1 |
  grep -qE '^knn_top1: 0\.[0-9]+$' || fail "eval_cifar10 could not load the 2-layer projector"
# --resume refuses a changed setting, and continues with the same ones.
if "${base[@]}" --gsg-views 4 --resume > /dev/null 2> "$work/err"; then
  fail "resume with another --gsg-views was accepted"
fi
grep -q "gsg_views" "$work/err" || fail "the resume refusal does not name gsg_views"
"${run[@]}" --resume > "$work/resume.log"
grep -q '"epoch":2' <(tail -n 1 "$work/run/metrics.jsonl") || fail "the resumed run did not finish"
echo "train_cifar10 options recorded, reloaded and refused as expected"
