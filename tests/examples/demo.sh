#!/usr/bin/env bash
# stopgrad_demo shows what docs/stop-gradient.md says it shows:
#   part 1: with detach view x2 gets no gradient at all ("none"), without detach a non-zero one;
#           view x1 gets one either way; encoder.fc1.bias, which feeds BatchNorm, gets a
#           gradient that is zero ("zero"), which is not "none";
#   part 2: over the run z_std falls to under half its start without stop-gradient, and stays
#           above 0.8 of its start with it;
#   bad arguments get a one-line error and exit 2.
#   usage: demo.sh STOPGRAD_DEMO
set -euo pipefail
demo="$1"
out=$("$demo" --steps 300)
fail() { echo "demo check failed: $*"; echo "$out"; exit 1; }

# Part 1 rows: NAME WITH WITHOUT (the two view rows have a two-word name).
cell() {  # cell NAME COLUMN(1 = with detach, 2 = without)
  awk -v name="$1" -v col="$2" '
    /^Part 2/ { exit }
    { n = ($1 == "view") ? $1 " " $2 : $1; off = ($1 == "view") ? 2 : 1 }
    n == name { print $(off + col); exit }' <<< "$out"
}
is_number() { [[ "$1" =~ ^[0-9]+\.[0-9]+$ ]] && awk -v v="$1" 'BEGIN { exit !(v > 0) }'; }

[ "$(cell "view x2" 1)" = none ] || fail "view x2 with detach: expected none, got '$(cell "view x2" 1)'"
is_number "$(cell "view x2" 2)" || fail "view x2 without detach: expected a gradient norm"
is_number "$(cell "view x1" 1)" || fail "view x1 with detach: expected a gradient norm"
is_number "$(cell "view x1" 2)" || fail "view x1 without detach: expected a gradient norm"
[ "$(cell encoder.fc1.bias 1)" = zero ] || fail "encoder.fc1.bias (feeds BatchNorm): expected zero, got '$(cell encoder.fc1.bias 1)'"
[ "$(cell predictor.fc1.weight 1)" = "$(cell predictor.fc1.weight 2)" ] ||
  fail "the predictor's gradient must not depend on the target's detach"

# Part 2 rows: "  step | loss_sg z_std_sg | loss_nosg z_std_nosg".
read -r first_sg first_nosg < <(awk -F'|' '/^ +0 \|/ { split($2, a, " "); split($3, b, " "); print a[2], b[2]; exit }' <<< "$out")
read -r last_sg last_nosg < <(awk -F'|' '/^ +[0-9]+ \|/ { split($2, a, " "); split($3, b, " "); s = a[2]; n = b[2] } END { print s, n }' <<< "$out")
[ -n "$first_sg" ] && [ -n "$last_nosg" ] || fail "no part 2 table"
awk -v f="$first_nosg" -v l="$last_nosg" 'BEGIN { exit !(l < 0.5 * f) }' ||
  fail "without stop-gradient z_std should collapse: $first_nosg -> $last_nosg"
awk -v f="$first_sg" -v l="$last_sg" 'BEGIN { exit !(l > 0.8 * f) }' ||
  fail "with stop-gradient z_std should stay up: $first_sg -> $last_sg"

# Bad arguments: one line on stderr, exit 2.
for args in "--steps abc" "--steps 5" "--frobnicate"; do
  set +e
  # shellcheck disable=SC2086
  err=$("$demo" $args 2>&1 >/dev/null)
  rc=$?
  set -e
  [ $rc -eq 2 ] || fail "'$args' exited $rc, expected 2"
  [ "$(wc -l <<< "$err")" -eq 1 ] && grep -q "^stopgrad_demo: " <<< "$err" || fail "'$args' printed '$err'"
done
# --graph: the SimSiam graph has exactly two stop-gradient cuts, BYOL's none and no target node.
graphs=$(mktemp -d)
trap 'rm -rf "$graphs"' EXIT
"$demo" --graph "$graphs/g.dot" > /dev/null
[ "$(grep -c 'label="stop-gradient' "$graphs/g-simsiam.dot")" -eq 2 ] || fail "SimSiam graph: expected 2 stop-gradient cuts"
[ "$(grep -c 'label="stop-gradient' "$graphs/g-gsg.dot")" -eq 2 ] || fail "GSG graph: expected 2 stop-gradient cuts"
[ "$(grep -c 'label="stop-gradient' "$graphs/g-byol.dot")" -eq 0 ] || fail "BYOL graph: expected no cut"
! grep -q 'target\.' "$graphs/g-byol.dot" || fail "BYOL graph: the target network must not appear"

echo "stopgrad_demo shows what docs/stop-gradient.md says (z_std with sg $first_sg -> $last_sg, without $first_nosg -> $last_nosg)"
