#!/usr/bin/env bash
# `watershed recs` end to end (ctest recs_cli): generate the planted
# benchmark in every format, evaluate it with --json, and check bad flags
# and bad files fail with a clear message and a non-zero exit.
# Usage: tests/recs/recs_cli.sh WATERSHED_BINARY
set -euo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/recs/cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"
fail() { echo "recs_cli: FAIL: $*" >&2; exit 1; }

for format in movielens-100k movielens-1m movielens-csv csv; do
  "$bin" recs generate --out "$work/$format" --format "$format" --users 200 --items 120 --seed 5 >/dev/null
  out=$("$bin" recs eval --interactions "$work/$format" --format "$format" --model popularity --k 5,10 --json)
  for key in '"model": "popularity"' '"split": "stratified:0.75"' '"ndcg@10": ' '"map@5": ' '"coverage@10": ' '"auc": '; do
    [[ $out == *"$key"* ]] || fail "$format: no $key in $out"
  done
done
# The table, and BPR with a leave-last-out split; same seed, same output (one thread).
table=$("$bin" recs eval --interactions "$work/movielens-1m" --format movielens-1m --model bpr --split leave-last-out \
  --epochs 5 --k 10 --seed 3 2>/dev/null)
[[ $table == *"ndcg "* && $table == *"precision "* ]] || fail "no table: $table"
a=$("$bin" recs eval --interactions "$work/csv/interactions.csv" --format csv --model bpr --epochs 4 --seed 9 --json \
  --split temporal:0.8 | sed 's/"train_seconds.*"metrics"//')
b=$("$bin" recs eval --interactions "$work/csv/interactions.csv" --format csv --model bpr --epochs 4 --seed 9 --json \
  --split temporal:0.8 | sed 's/"train_seconds.*"metrics"//')
[[ $a == "$b" ]] || fail "same seed, different metrics: $a vs $b"
# --progress writes epochs to stderr, nothing to stdout but the result.
err=$("$bin" recs eval --interactions "$work/csv" --format csv --model bpr --epochs 2 --progress --json 2>&1 >/dev/null)
[[ $err == *"bpr epoch 1/2"* && $err == *"eval "*" users"* ]] || fail "no progress: $err"
# The two-tower model: its epochs on stderr, same seed -> same metrics, and it beats popularity here.
tt() {
  "$bin" recs eval --interactions "$work/movielens-1m" --format movielens-1m --model two-tower --epochs 6 --dim 16 \
    --history 10 --batch 64 --negatives 16 --seed 4 --json "$@"
}
a=$(tt 2>/dev/null | sed 's/"train_seconds.*"metrics"//')
b=$(tt --progress 2>"$work/tt.err" | sed 's/"train_seconds.*"metrics"//')
[[ $a == "$b" && $a == *'"model": "two-tower"'* ]] || fail "two-tower: same seed, different metrics: $a vs $b"
grep -q "two-tower epoch 1/6" "$work/tt.err" || fail "two-tower: no progress: $(cat "$work/tt.err")"
pop=$("$bin" recs eval --interactions "$work/movielens-1m" --format movielens-1m --model popularity --seed 4 --json)
ndcg() { sed 's/.*"ndcg@10": \([0-9.e-]*\).*/\1/' <<<"$1"; }
python3 -c "import sys; t, p = map(float, sys.argv[1:]); sys.exit(0 if t > p else 1)" "$(ndcg "$a")" "$(ndcg "$pop")" ||
  fail "two-tower ndcg@10 $(ndcg "$a") not above popularity's $(ndcg "$pop")"

expect_error 2 "unknown format 'movielens-10m'" recs eval --interactions "$work/csv" --format movielens-10m
expect_error 2 "unknown split 'random'" recs eval --interactions "$work/csv" --format csv --split random
expect_error 2 "--model must be popularity, bpr, two-tower or ranker" recs eval --interactions "$work/csv" --format csv --model als
expect_error 2 "--temperature must be" recs eval --interactions "$work/csv" --format csv --model two-tower --temperature 0
expect_error 2 "--k must be" recs eval --interactions "$work/csv" --format csv --k 10,x
expect_error 2 "--threads must be in 1..256" recs eval --interactions "$work/csv" --format csv --threads 0
expect_error 2 "one of --interactions FILE --format F, --dataset NAME or --from-lake ROOT is needed" recs eval --k 5
expect_error 2 "--format and --positive-rating apply to --interactions" recs eval --dataset x --format csv
expect_error 2 "unknown flag" recs eval --interactions "$work/csv" --format csv --nope 1
expect_error 2 "--out and --format are required" recs generate --format csv
expect_error 2 "unknown action 'fit'" recs fit
printf '1::2::5::978300760\n1::3::high::978300761\n' > "$work/ratings.dat"
expect_error 1 "$work/ratings.dat:2:7: rating must be a number, got 'high'" \
  recs eval --interactions "$work/ratings.dat" --format movielens-1m
expect_error 1 "has no u.data" recs eval --interactions "$work/csv" --format movielens-100k
[[ $("$bin" recs eval --help) == *"--positive-rating"* ]] || fail "eval --help"
[[ $("$bin" recs generate --help) == *"--in-cluster"* ]] || fail "generate --help"
echo "recs_cli: ok"
