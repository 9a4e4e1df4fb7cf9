#!/usr/bin/env bash
# `watershed recs import|train|models` and `recs eval --registry` end to end (ctest recs_registry_cli), and the
# issue's single evaluation command line exactly as written, on a small generated MovieLens-100K-format file.
# Usage: tests/recs/recs_registry_cli.sh WATERSHED_BINARY
set -euo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/recs/cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"
fail() { echo "recs_registry_cli: FAIL: $*" >&2; exit 1; }
metrics() { sed 's/.*"metrics": //' <<<"$1"; }
field() { sed "s/.*\"$2\": \\([^,}]*\\).*/\\1/" <<<"$1"; }

"$bin" recs generate --out "$work/ml" --format movielens-100k --users 150 --items 90 --seed 6 >/dev/null
# The issue's command line, for every model (small epochs keep it quick where a model takes them).
for model in popularity bpr two-tower ranker; do
  out=$("$bin" recs eval --interactions "$work/ml" --format movielens-100k --split stratified:0.75 --model "$model" \
    --k 10 --seed 42 --positive-rating 4 --json 2>"$work/err")
  [[ $out == "{\"model\": \"$model\""* && $out == *'"ndcg@10": '* && $out == *'"auc": '* ]] || fail "$model: $out"
  [[ ! -s "$work/err" ]] || fail "$model: stderr is not a terminal, yet: $(cat "$work/err")"
done

# import: a normalised file in the data dir; --dataset gives the same split and metrics as the source.
d="$work/data"
out=$("$bin" recs import --interactions "$work/ml" --format movielens-100k --data-dir "$d" --name ml)
[[ $out == "wrote "* ]] || fail "import: $out"
[[ -s "$d/recs/interactions/ml.bin" ]] || fail "no imported file"
a=$("$bin" recs eval --interactions "$work/ml" --format movielens-100k --model bpr --epochs 3 --json)
b=$("$bin" recs eval --dataset ml --data-dir "$d" --model bpr --epochs 3 --json)
[[ $(metrics "$a") == "$(metrics "$b")" ]] || fail "--dataset differs: $a vs $b"

# train: three versions of one name; the first becomes current.
t1=$("$bin" recs train --model popularity --name stories --dataset ml --data-dir "$d" --json)
t2=$("$bin" recs train --model bpr --name stories --dataset ml --data-dir "$d" --epochs 3 --progress --json \
  2>"$work/progress")
grep -q "bpr epoch 1/3" "$work/progress" || fail "no progress: $(cat "$work/progress")"
t3=$("$bin" recs train --model ranker --name stories --dataset ml --data-dir "$d" --epochs 3 --quiet --json \
  2>"$work/quiet")
[[ ! -s "$work/quiet" ]] || fail "--quiet printed: $(cat "$work/quiet")"
[[ $(field "$t1" version) == 1 && $(field "$t2" version) == 2 && $(field "$t3" version) == 3 ]] || fail "versions"
[[ $(field "$t3" current) == 1 ]] || fail "current after three trains: $t3"
list=$("$bin" recs models --data-dir "$d")
[[ $list == *"stories"*"1*"*"popularity"* && $list == *"3 "*"ranker"* ]] || fail "list: $list"

# promote 2; the stored model scores exactly as trained: eval --registry gives train's metrics bit for bit.
[[ $("$bin" recs models promote stories@2 --data-dir "$d") == *"current version 2"* ]] || fail "promote"
e2=$("$bin" recs eval --registry stories --data-dir "$d" --json)
[[ $(field "$e2" version) == 2 && $(metrics "$e2") == "$(metrics "$t2")" ]] || fail "registry eval: $e2 vs $t2"
e3=$("$bin" recs eval --registry stories@3 --data-dir "$d" --json)
[[ $(metrics "$e3") == "$(metrics "$t3")" ]] || fail "registry eval of the ranker: $e3 vs $t3"
[[ $("$bin" recs models rollback stories --data-dir "$d") == *"current version 1"* ]] || fail "rollback"
[[ $("$bin" recs models list stories --json --data-dir "$d") == *'"version": 1, "current": true'* ]] || fail "list json"

expect_error 1 "has no earlier current version" recs models rollback stories --data-dir "$d"
expect_error 1 "no version 9 of model 'stories'" recs models promote stories@9 --data-dir "$d"
expect_error 2 "promote takes NAME@VERSION" recs models promote stories --data-dir "$d"
expect_error 2 "--registry takes no --model" recs eval --registry stories --model bpr --data-dir "$d"
expect_error 2 "--model is required" recs train --dataset ml --data-dir "$d"
expect_error 2 "--name: model name '../x'" recs train --model bpr --name ../x --dataset ml --data-dir "$d"
# A damaged weights file: an error naming it, and it cannot be promoted.
w="$d/models/stories/2/weights.bin"
printf '\x01' | dd of="$w" bs=1 seek=40 conv=notrunc status=none
expect_error 1 "$w: its CRC-32C does not match the manifest's" recs eval --registry stories@2 --data-dir "$d"
expect_error 1 "$w: its CRC-32C" recs models promote stories@2 --data-dir "$d"
# The data changed since training: refused.
"$bin" recs generate --out "$work/ml2" --format movielens-100k --users 150 --items 90 --seed 7 >/dev/null
"$bin" recs import --interactions "$work/ml2" --format movielens-100k --data-dir "$d" --name ml >/dev/null
expect_error 1 "ml.bin changed since the model was trained" recs eval --registry stories@1 --data-dir "$d"
# Format 2: the ranker's weights hold the item tower's vocabulary (tag names) for new items.
grep -q '"format_version": 2' "$d/models/stories/3/manifest.json" || fail "manifest format"
grep -q 'tag:' "$d/models/stories/3/weights.bin" || fail "no vocabulary in the two-tower weights"
# gc: current 1 (no earlier current one after the rollback), two newer versions 4 and 5.
"$bin" recs train --model popularity --name stories --dataset ml --data-dir "$d" --json >/dev/null
"$bin" recs train --model popularity --name stories --dataset ml --data-dir "$d" --json >/dev/null
out=$("$bin" recs models gc --keep 1 --dry-run --data-dir "$d")
[[ $out == "stories: would delete versions 2,3,4; kept 1,5" ]] || fail "gc --dry-run: $out"
[[ -d "$d/models/stories/2" && -d "$d/models/stories/4" ]] || fail "gc --dry-run deleted something"
out=$("$bin" recs models gc stories --keep 1 --json --data-dir "$d")
[[ $out == '{"dry_run": false, "models": [{"name": "stories", "kept": [1,5], "deleted": [2,3,4]}]}' ]] || fail "gc: $out"
[[ ! -e "$d/models/stories/2" && ! -e "$d/models/stories/4" && -d "$d/models/stories/5" ]] || fail "gc left: $(ls -a "$d/models/stories")"
list=$("$bin" recs models --data-dir "$d")
[[ $list == *"1*"* && $list == *" 5 "* && $list != *" 3 "* ]] || fail "list after gc: $list"
out=$("$bin" recs models gc --keep 0 --data-dir "$d")  # the current version is never deleted
[[ $out == "stories: deleted versions 5; kept 1" && -d "$d/models/stories/1" ]] || fail "gc --keep 0: $out"
expect_error 2 "gc needs --keep N" recs models gc --data-dir "$d"
expect_error 2 "--keep must be a whole number >= 0, not 'x'" recs models gc --keep x --data-dir "$d"
expect_error 2 "--keep and --dry-run are gc's flags" recs models list --keep 1 --data-dir "$d"
expect_error 1 "no model named 'nope'" recs models gc nope --keep 1 --data-dir "$d"
[[ $("$bin" recs import --help) == *"--name"* ]] || fail "import --help"
[[ $("$bin" recs train --help) == *"--model popularity|bpr|two-tower|ranker"* ]] || fail "train --help"
[[ $("$bin" recs models --help) == *"rollback NAME"* && $("$bin" recs models --help) == *"gc --keep N"* ]] ||
  fail "models --help"
echo "recs_registry_cli: ok"
