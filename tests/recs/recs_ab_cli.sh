#!/usr/bin/env bash
# `watershed recs experiment report|promote|assign|simulate` and `recs rules check` end to end (ctest recs_ab_cli):
# two model versions in the registry, an experiments file, simulated traffic with a planted +5 % watch-time effect
# (promoted) and without one (refused, saying why), a torn exposure record, and bad files named by line and column.
# Usage: tests/recs/recs_ab_cli.sh WATERSHED_BINARY
set -euo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/recs/cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"
fail() { echo "recs_ab_cli: FAIL: $*" >&2; exit 1; }

d="$work/data"
mkdir -p "$d/recs"
"$bin" recs generate --out "$work/ml" --format movielens-100k --users 100 --items 60 --seed 6 >/dev/null
for _ in 1 2; do
  "$bin" recs train --model popularity --name stories --interactions "$work/ml" --format movielens-100k \
    --data-dir "$d" >/dev/null
done
cat >"$d/recs/experiments.toml" <<'TOML'
[[layer]]
name = "ranking"
[[layer]]
name = "rules"

[[experiment]]
name = "ranker-v2"
layer = "ranking"
traffic = 0.5
control = "control"
[[arm]]
experiment = "ranker-v2"
name = "control"
model = "stories@1"
[[arm]]
experiment = "ranker-v2"
name = "treatment"
model = "stories@2"

[[experiment]]
name = "flat"
layer = "ranking"
traffic = 0.5
control = "control"
[[arm]]
experiment = "flat"
name = "control"
model = "stories@1"
[[arm]]
experiment = "flat"
name = "treatment"
model = "stories@2"

[[experiment]]
name = "mmr"
layer = "rules"
control = "off"
[[arm]]
experiment = "mmr"
name = "off"
[[arm]]
experiment = "mmr"
name = "on"
params.mmr_lambda = 0.7
TOML

# assign: one experiment of each layer, the same answer every time.
a=$("$bin" recs experiment assign 42 --data-dir "$d")
[[ $a == *"layer ranking: experiment "*", arm "*"layer rules: experiment mmr, arm o"* ]] || fail "assign: $a"
[[ $("$bin" recs experiment assign 42 --data-dir "$d") == "$a" ]] || fail "assign is not deterministic"

# A planted +5 % effect: the report finds it, promote makes stories@2 current.
out=$("$bin" recs experiment simulate ranker-v2 --users 160000 --effect 0.05 --seed 3 --events-out "$work/ev.csv" \
  --data-dir "$d")
[[ $out == "appended "*" exposures to $d/recs/exposures/ranker-v2.log"* ]] || fail "simulate: $out"
report=$("$bin" recs experiment report ranker-v2 --events "$work/ev.csv" --data-dir "$d")
[[ $report == *"treatment    stories@2"* && $report == *"no mismatch"* ]] || fail "report: $report"
[[ $report == *"promotion (>= +2% watch time per user, significant at 95%, no SRM): arm treatment, stories@2"* ]] ||
  fail "report's decision: $report"
json=$("$bin" recs experiment report ranker-v2 --events "$work/ev.csv" --data-dir "$d" --json)
python3 - "$json" <<'PY' || fail "report --json: $json"
import json, sys
r = json.loads(sys.argv[1])
t = r["arms"][1]
assert r["decision"]["promote"] and r["decision"]["model"] == "stories@2", r["decision"]
assert t["p"] < 0.05 and t["lift_lo"] < 0.05 < t["lift_hi"] and t["lift"] >= 0.02, t
assert not r["srm"]["mismatch"] and r["arms"][0]["control"], r
PY
dry=$("$bin" recs experiment promote ranker-v2 --events "$work/ev.csv" --data-dir "$d" --dry-run)
[[ $dry == *"would promote stories@2"* ]] || fail "dry run: $dry"
[[ $("$bin" recs models --data-dir "$d") == *" 1* "* ]] || fail "--dry-run changed the registry"
out=$("$bin" recs experiment promote ranker-v2 --events "$work/ev.csv" --data-dir "$d")
[[ $out == *"promoted stories@2 (arm treatment of ranker-v2)"* ]] || fail "promote: $out"
[[ $("$bin" recs models --data-dir "$d") == *" 2* "* ]] || fail "stories@2 is not current"

# No effect: promote refuses and says why, exit 1.
"$bin" recs experiment simulate flat --users 20000 --seed 4 --events-out "$work/flat.csv" --data-dir "$d" >/dev/null
expect_error 1 "not significant at 95 %" recs experiment promote flat --events "$work/flat.csv" --data-dir "$d"
# A parameters-only experiment with a planted effect: it wins, but there is no model version to promote.
"$bin" recs experiment simulate mmr --users 60000 --effect 0.2 --seed 5 --events-out "$work/mmr.csv" \
  --data-dir "$d" >/dev/null
expect_error 1 "names no model version" recs experiment promote mmr --events "$work/mmr.csv" --data-dir "$d"
# Lost treatment exposures (a logging bug): a sample ratio mismatch blocks promotion.
rm "$d/recs/exposures/mmr.log"
"$bin" recs experiment simulate mmr --users 60000 --effect 0.2 --lose-treatment 0.1 --seed 5 \
  --events-out "$work/mmr.csv" --data-dir "$d" >/dev/null
expect_error 1 "sample ratio mismatch" recs experiment promote mmr --events "$work/mmr.csv" --data-dir "$d"

# A torn last record is ignored (and said), and the next writer cuts it.
printf '0badc0de\treq' >>"$d/recs/exposures/flat.log"
[[ $("$bin" recs experiment report flat --events "$work/flat.csv" --data-dir "$d") == *"a torn last record of 12 bytes"* ]] ||
  fail "torn tail"
"$bin" recs experiment simulate flat --users 10 --seed 9 --events-out "$work/x.csv" --data-dir "$d" >/dev/null
[[ $("$bin" recs experiment report flat --events "$work/flat.csv" --data-dir "$d") != *"torn"* ]] || fail "not cut"

# Errors: usage (2) and bad files (1), named by line and column.
expect_error 2 "give --events FILE or --from-lake ROOT" recs experiment report flat --data-dir "$d"
expect_error 2 "no experiment 'nope' in the experiments file (ranker-v2, flat, mmr)" \
  recs experiment report nope --events "$work/flat.csv" --data-dir "$d"
expect_error 2 "unknown action 'reprot'" recs experiment reprot flat
printf '[[layer]]\nname = "l"\nsalt = 4\n' >"$work/bad.toml"
expect_error 1 "$work/bad.toml:3:8: [[layer]] salt: must be a \"string\"" \
  recs experiment assign 1 --config "$work/bad.toml" --data-dir "$d"
printf '1,2,view,10,5\n1,2,like,10,5\n' >"$work/bad.csv"
expect_error 1 "$work/bad.csv:2: type must be view, share or reply" \
  recs experiment report flat --events "$work/bad.csv" --data-dir "$d"

# rules check.
cat >"$work/rules.toml" <<'TOML'
top_k = 50
[diversity]
mmr_lambda = 0.8
max_per_author = 2
[freshness]
share = 0.2
max_age_hours = 24
[[boost]]
name = "originals"
original = true
factor = 1.2
[[pin]]
item = 17
position = 1
[block]
authors = [66]
TOML
out=$("$bin" recs rules check "$work/rules.toml")
[[ $out == *"top_k 50; mmr_lambda 0.8; at most 2 per author, any per tag; fresh share 0.2 within 24 h; 1 boosts; 1 pins; 0 blocked items, 1 blocked authors"* ]] ||
  fail "rules check: $out"
printf '[diversity]\nmax_per_autor = 2\n' >"$work/bad_rules.toml"
expect_error 1 "$work/bad_rules.toml:2:1: [diversity] max_per_autor: unknown key" recs rules check "$work/bad_rules.toml"
expect_error 2 "expected: check FILE" recs rules chek "$work/rules.toml"
echo "recs_ab_cli: ok"
