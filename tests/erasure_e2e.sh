#!/usr/bin/env bash
# `watershed erase` end to end (docs/governance.md "Erasure"), with the real
# binary and a plaintext lake: a server ingests a known load plus the
# events of one viewer with a distinctive id, stops; the lake is checked
# against the ground truth and each viewer's rows are counted (DuckDB).
# Then the erasure is killed at each of its crash points in turn (exit
# 137, like kill -9), resumed, and completes. Afterwards
# (tests/lake/check_erasure.py): the viewer has no row in any table, the
# other viewers exactly the rows they had, no retained snapshot (time
# travel) reads one, no Parquet file under the lake root (referenced or
# not) holds one, and no file there holds the id's bytes; `erase --verify`
# lists no lake file, and every log segment it lists has an expiry.
# usage: tests/erasure_e2e.sh WATERSHED_BINARY
set -euo pipefail
SECONDS=0
phase() { echo "erasure_e2e: ${SECONDS}s $*"; }
bin="$(realpath "$1")"
work="$(mktemp -d /tmp/watershed-erasure.XXXXXX)"
server=""
source "$(dirname "$0")/../tools/test_servers.sh"
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "erasure_e2e: FAIL: $*"; exit 1; }
check="$(dirname "$0")/lake/check_erasure.py"
lake="$work/data/lake"
viewer=54321987654321  # distinctive: its 8 little-endian bytes cannot appear by chance
flags=(--data-dir "$work/data")

# The viewer's events: N views of stories 900001..900020 (not the load's) in the EU.
send_viewer_events() {  # FIRST COUNT
  local now events="" i
  now=$(date +%s%3N)
  for i in $(seq "$1" $(($1 + $2 - 1))); do
    events+="${events:+,}{\"event_id\":\"$(printf '%08x-0000-4000-8000-%012x' 777 "$i")\",\"type\":\"view\","
    events+="\"story_id\":$((900001 + i % 20)),\"author_id\":9001,\"viewer_id\":$viewer,\"region\":\"eu\","
    events+="\"event_time\":$((now - i)),\"watch_ms\":1000}"
  done
  curl -sf -X POST "http://127.0.0.1:$port/v1/events" -H 'Content-Type: application/json' \
    -d "{\"events\":[$events]}" | grep -q "\"accepted\":$2" || fail "the viewer's events were not all accepted"
}

pick_port
"$bin" serve "${flags[@]}" --port "$port" --auth off --checkpoint-interval 300ms --max-future 1h \
  --lake-buffer-rows 1000 >"$work/server.log" 2>&1 &
server=$!
wait_http "$port" /readyz "$work/server.log"
"$bin" load --server "127.0.0.1:$port" --events 10000 --rate 5000 --stories 20 --connections 2 \
  --event-time-rate 100 --truth "$work/truth.txt" >"$work/load.log" 2>&1 || fail "load: $(tail -3 "$work/load.log")"
"$bin" load --server "127.0.0.1:$port" --verify "$work/truth.txt" --timeout 120s >"$work/verify.log" 2>&1 ||
  fail "verify: $(tail -3 "$work/verify.log")"
send_viewer_events 0 150
send_viewer_events 150 150
kill -TERM "$server"; status=0; wait "$server" || status=$?; server=""
[ "$status" -eq 0 ] || fail "server exited $status on SIGTERM: $(tail -5 "$work/server.log")"
phase "ingested"
/usr/bin/python3 "$check" before "$lake" "$work/before.json" || fail "counting the rows before"

phase "counted"
# Before: the processors' checkpoints hold the viewer (their viewer sets), and --verify says so.
status=0
"$bin" erase --verify "$viewer" "${flags[@]}" >"$work/verify0.out" 2>&1 || status=$?
[ "$status" -eq 1 ] && grep -q "^checkpoint .*processor state holds the id" "$work/verify0.out" ||
  fail "verify before the erasure: exit $status, $(grep -v '^log ' "$work/verify0.out" | head -5)"
# Killed at each step in turn; every rerun resumes the same request.
for point in erase.after_request erase.after_rewrite erase.after_commit erase.after_expire \
  erase.before_checkpoint_save checkpoint.after_rename; do
  status=0
  WATERSHED_CRASH_POINT=$point "$bin" erase --viewer "$viewer" "${flags[@]}" >"$work/crash.out" 2>&1 || status=$?
  [ "$status" -eq 137 ] || fail "erase did not die at $point (exit $status): $(tail -3 "$work/crash.out")"
done
[ "$(ls "$work/data/erasures" | wc -l)" -eq 1 ] || fail "the reruns made more than one request: $(ls "$work/data/erasures")"
"$bin" erase --list "${flags[@]}" | grep -q "viewer $viewer .*unfinished" || fail "no unfinished request listed"
# Audited with a governance-file (the CLI here, the server below).
printf 'version = 1\n[[role]]\nname = "admin"\ntables = ["*"]\n' >"$work/governance.toml"
gov=(--governance-file "$work/governance.toml")
"$bin" erase --resume "${flags[@]}" "${gov[@]}" --json >"$work/receipt.json" 2>"$work/resume.err" ||
  fail "resume: $(tail -3 "$work/resume.err")"
grep -q '"complete":true' "$work/receipt.json" || fail "receipt not complete: $(cat "$work/receipt.json")"
grep -q '"last_copy_expires"' "$work/receipt.json" || fail "receipt without last_copy_expires"
grep -q '"store":"log","what":"eu log segments' "$work/receipt.json" || fail "receipt names no log: $(cat "$work/receipt.json")"
"$bin" erase --list "${flags[@]}" | grep -q "viewer $viewer .*complete" || fail "request not complete"
phase "erased"
/usr/bin/python3 "$check" after "$lake" "$work/before.json" "$viewer" || fail "the lake still holds the viewer"

phase "checked"
# Over HTTP: the server records a second viewer's erasure, answers the receipt, runs it, and dies at a crash
# point in the middle; restarted, it finishes the request by itself. Bad bodies get JSON errors.
viewer2=$(/usr/bin/python3 "$check" pick "$work/before.json" "$viewer")
WATERSHED_CRASH_POINT=erase.after_commit "$bin" serve "${flags[@]}" --port "$port" --auth off \
  --max-future 1h >"$work/server2.log" 2>&1 &
server=$!
wait_http "$port" /readyz "$work/server2.log"
curl -s -X POST "http://127.0.0.1:$port/v1/admin/erasures" -d "{\"viewer_id\": $viewer2}" >"$work/receipt2.json" || true
status=0; wait "$server" || status=$?; server=""
[ "$status" -eq 137 ] || fail "the server did not die at erase.after_commit (exit $status)"
grep -rq "\"viewer_id\":$viewer2," "$work/data/erasures" || fail "the request of viewer $viewer2 was not recorded"
"$bin" serve "${flags[@]}" "${gov[@]}" --port "$port" --auth off --max-future 1h >"$work/server3.log" 2>&1 &
server=$!
wait_http "$port" /readyz "$work/server3.log"
# The restarted server finishes the request by itself, processor state included: its processors erase the
# viewer from their running state and checkpoint it.
for _ in $(seq 300); do
  "$bin" erase --list "${flags[@]}" | grep -q "viewer $viewer2 .*complete" && break; sleep 0.1
done
"$bin" erase --list "${flags[@]}" | grep -q "viewer $viewer2 .*complete" ||
  fail "the restarted server did not finish the erasure: $(tail -5 "$work/server3.log")"
# (a step before the lake's: done before the crash point, by the first server)
cat "$work/server2.log" "$work/server3.log" | grep -q "checkpoints eu: .* every partition checkpointed" ||
  fail "the server did not erase its processors' state: $(grep erasure "$work/server2.log" | head -3)"
# The CLI does not rewrite checkpoints a running server owns: its request stays unfinished, saying why.
"$bin" erase --viewer 987654321 "${flags[@]}" >"$work/cli-busy.out" 2>&1 && fail "erase ran while the server runs"
grep -q "a running \`watershed serve\` holds them" "$work/cli-busy.out" ||
  fail "no clear refusal: $(tail -3 "$work/cli-busy.out")"
"$bin" erase --list "${flags[@]}" | grep -q "^  remains processor state: eu checkpoints .*not erased yet" ||
  fail "--list does not say what remains: $("$bin" erase --list "${flags[@]}")"
code=$(curl -s -o "$work/bad.json" -w '%{http_code}' -X POST "http://127.0.0.1:$port/v1/admin/erasures" \
  -d '{"viewer_id": 0}')
[ "$code" = 400 ] && grep -q '"code":"invalid_erasure"' "$work/bad.json" || fail "bad body: $code $(cat "$work/bad.json")"
code=$(curl -s -o "$work/receipt3.json" -w '%{http_code}' -X POST "http://127.0.0.1:$port/v1/admin/erasures" \
  -d '{"viewer_id": 123456789012345}')
[ "$code" = 202 ] && grep -q '"last_copy_expires"' "$work/receipt3.json" || fail "receipt: $code $(cat "$work/receipt3.json")"
kill -TERM "$server"; status=0; wait "$server" || status=$?; server=""
[ "$status" -eq 0 ] || fail "server exited $status on SIGTERM: $(tail -5 "$work/server3.log")"
# Stopped: the resume finishes whatever the server left (the CLI's request, if the server's run after the POST
# below did not already).
"$bin" erase --resume "${flags[@]}" >"$work/resume2.out" 2>&1 || fail "resume: $(tail -3 "$work/resume2.out")"
"$bin" erase --list "${flags[@]}" | grep -q "viewer $viewer2 .*complete" || fail "viewer $viewer2's request not complete"
"$bin" erase --list "${flags[@]}" | grep -q "unfinished" && fail "an unfinished request is left"
/usr/bin/python3 "$check" after "$lake" "$work/before.json" "$viewer,$viewer2" || fail "the lake still holds a viewer"
"$bin" audit "${flags[@]}" "${gov[@]}" --format csv >"$work/audit.csv" 2>&1 || fail "audit: $(tail -3 "$work/audit.csv")"
grep -q "cli,ERASE VIEWER $viewer,erasure,0,allowed" "$work/audit.csv" || fail "the CLI erasure was not audited: $(cat "$work/audit.csv")"
grep -q "http,ERASE VIEWER 123456789012345,erasure,0,allowed" "$work/audit.csv" ||
  fail "the HTTP erasure was not audited: $(cat "$work/audit.csv")"
grep -q "http,ERASE VIEWER ?,erasure,0,failed" "$work/audit.csv" || fail "the refused body was not audited"
phase "erased over HTTP"

# Verify: no lake file; the log segments holding the viewer listed with an expiry.
status=0
"$bin" erase --verify "$viewer" "${flags[@]}" >"$work/verify.out" 2>&1 || status=$?
grep -q "^lake " "$work/verify.out" && fail "verify found lake files: $(grep '^lake ' "$work/verify.out" | head -3)"
grep -Eq "^log .*/eu/p[0-9]+/[0-9]{20}\.seg rows=[1-9][0-9]* expires=20[0-9-]+T" "$work/verify.out" ||
  fail "verify listed no log segment with its expiry: $(head -5 "$work/verify.out")"
grep -E "^log " "$work/verify.out" | grep -q "expires=never" && fail "a log segment without an expiry"
grep -q "^checkpoint " "$work/verify.out" && fail "verify found processor state: $(grep '^checkpoint ' "$work/verify.out")"
[ "$status" -eq 0 ] || fail "verify exited $status after an offline erasure: $(tail -5 "$work/verify.out")"
# A viewer never seen: nothing in the lake or the logs.
"$bin" erase --verify 123456789012345 "${flags[@]}" >"$work/verify2.out" 2>&1 || true
grep -Eq "^(lake|log) " "$work/verify2.out" && fail "an unknown viewer found: $(head -3 "$work/verify2.out")"

# Bad input: a message and exit 2, nothing recorded.
for args in "--viewer 0" "--viewer abc" "--viewer 9223372036854775808" "--verify -1" "" "--viewer 5 --resume"; do
  status=0
  # shellcheck disable=SC2086
  "$bin" erase $args "${flags[@]}" >"$work/bad.out" 2>&1 || status=$?
  [ "$status" -eq 2 ] || fail "'erase $args' exited $status"
  grep -q "watershed erase:" "$work/bad.out" || fail "'erase $args' printed no message"
done
[ "$(ls "$work/data/erasures" | wc -l)" -eq 4 ] || fail "a refused command recorded a request"
cat "$work/verify.out" | cut -c1-200 | sort | uniq -c -w 12 | head; echo "erasure_e2e: OK"
