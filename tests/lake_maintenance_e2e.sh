#!/usr/bin/env bash
# `watershed lake` end to end, with the real binary: a server fills the lake
# with many small files (a tiny --lake-buffer-rows, frequent checkpoints),
# stops; then every maintenance action's dry run must leave every file as it
# was, `compact` must merge files, `expire-snapshots` must delete what only
# old snapshots reached, and the lake must still equal the ground truth with
# no orphan file (tests/lake/check_lake.py, DuckDB + python3-avro); bad
# flags must exit non-zero.
# usage: tests/lake_maintenance_e2e.sh WATERSHED_BINARY
set -euo pipefail
bin="$(realpath "$1")"
work="$(mktemp -d /tmp/watershed-lake-maint.XXXXXX)"
server=""
helpers=""
source "$(dirname "$0")/../tools/test_servers.sh"
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "lake_maintenance_e2e: FAIL: $*"; exit 1; }
lake="$work/data/lake"
files() { find "$lake" -type f -printf '%p %s %T@\n' | sort; }
parquet_files() { find "$lake" -type f -name '*.parquet' | wc -l; }

pick_port
"$bin" serve --data-dir "$work/data" --port "$port" --auth off --checkpoint-interval 300ms --max-future 1h \
  --lake-buffer-rows 100 >"$work/server.log" 2>&1 &
server=$!
wait_http "$port" /readyz "$work/server.log"
"$bin" load --server "127.0.0.1:$port" --events 20000 --rate 5000 --stories 20 --connections 2 \
  --event-time-rate 100 --truth "$work/truth.txt" >"$work/load.log" 2>&1 || fail "load: $(tail -3 "$work/load.log")"
"$bin" load --server "127.0.0.1:$port" --verify "$work/truth.txt" --timeout 120s >"$work/verify.log" 2>&1 ||
  fail "verify: $(tail -3 "$work/verify.log")"
records=$(log_records "$port")
kill -TERM "$server"; status=0; wait "$server" || status=$?; server=""
[ "$status" -eq 0 ] || fail "server exited $status on SIGTERM: $(tail -5 "$work/server.log")"
check_lake "$lake" "$work/truth.txt" "$records"

flags=(--data-dir "$work/data")
before=$(files)
for action in compact expire-snapshots remove-orphans lifecycle; do
  "$bin" lake "$action" "${flags[@]}" --dry-run >"$work/$action.dry" 2>&1 ||
    fail "$action --dry-run: $(tail -3 "$work/$action.dry")"
  [ "$(files)" = "$before" ] || fail "$action --dry-run changed the lake"
done
grep -Eq "would compact [1-9][0-9]* files into [1-9][0-9]*: [0-9]+ bytes in" "$work/compact.dry" ||
  fail "compact --dry-run printed no summary: $(head "$work/compact.dry")"
grep -q "group" "$work/compact.dry" && fail "compact --dry-run listed groups without --verbose: $(head "$work/compact.dry")"
"$bin" lake compact "${flags[@]}" --dry-run --verbose >"$work/compact.verbose" 2>&1 || fail "compact --dry-run --verbose"
grep -q "would compact group" "$work/compact.verbose" || fail "--verbose printed no group: $(head "$work/compact.verbose")"
grep -q "would remove 0 orphan files" "$work/remove-orphans.dry" || fail "orphans in a clean lake: $(cat "$work/remove-orphans.dry")"

files_before=$(parquet_files)
"$bin" lake compact "${flags[@]}" >"$work/compact.out" 2>"$work/compact.err" || fail "compact: $(tail -3 "$work/compact.err")"
grep -q "100%" "$work/compact.err" || fail "no progress on stderr: $(cat "$work/compact.err")"
grep -Eq "compacted [1-9][0-9]* files into [1-9]" "$work/compact.out" || fail "nothing compacted: $(cat "$work/compact.out")"
"$bin" lake expire-snapshots "${flags[@]}" --older-than 0 --retain-last 1 >"$work/expire.out" 2>&1 ||
  fail "expire-snapshots: $(tail -3 "$work/expire.out")"
files_after=$(parquet_files)
[ "$files_after" -lt "$files_before" ] || fail "still $files_after data files (were $files_before)"
echo "lake_maintenance_e2e: $files_before data files -> $files_after"
check_lake "$lake" "$work/truth.txt" "$records"

# Bad flags: a message and a non-zero exit, nothing changed.
before=$(files)
for args in "frobnicate" "compact --table nope" "remove-orphans --older-than 5m" "expire-snapshots --retain-last x"; do
  status=0
  # shellcheck disable=SC2086
  "$bin" lake $args "${flags[@]}" >"$work/bad.out" 2>&1 || status=$?
  [ "$status" -ne 0 ] || fail "'lake $args' exited 0"
  grep -q "watershed lake:" "$work/bad.out" || fail "'lake $args' printed no message"
done
[ "$(files)" = "$before" ] || fail "a refused command changed the lake"
echo "lake_maintenance_e2e: OK"
