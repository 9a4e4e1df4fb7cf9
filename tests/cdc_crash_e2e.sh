#!/usr/bin/env bash
# The story catalogue fed by CDC from a real PostgreSQL 15, under kill -9
# (issue #17): `watershed serve --cdc-conninfo ...` reads a `stories`
# table's snapshot, then streams inserts, updates, author changes, deletes,
# multi-statement and rolled-back transactions while it is killed twice with
# -9 and restarted. Then:
#   * the lake's cdc_stories table holds every committed change exactly once
#     and nothing of a rolled-back transaction (tests/cdc/check_cdc.py: DuckDB
#     and python3-avro against the history this script made);
#   * the catalogue equals the table's final rows;
#   * the takeover attack: a creator who sends an event naming itself as the
#     author of another creator's story is refused the story's metrics (403),
#     the real author reads them.
#
# usage: tests/cdc_crash_e2e.sh WATERSHED_BINARY [TRANSACTIONS (240)]
set -euo pipefail
bin="$(realpath "$1")"
transactions="${2:-240}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/watershed-cdc.XXXXXX)"
chmod 0711 "$work"  # PostgreSQL runs as nobody when we are root
source "$repo/tools/test_servers.sh"
pgbin=/usr/lib/postgresql/15/bin
server="" pg_started=0
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null
  [ "$pg_started" = 1 ] && as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1
  kill -9 $helpers 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "cdc_crash_e2e: FAILED: $*"
  for f in "$work"/server*.log "$work/pg/log"; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done
  exit 1
}
[ -x "$pgbin/initdb" ] || fail "PostgreSQL 15 is not installed ($pgbin; scripts/install-deps.sh installs it)"

pick_port
pgport=$((port + 5))
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown nobody "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg/data" -U postgres -A trust -E UTF8 --locale=C -N >"$work/pg/initdb.log" 2>&1 ||
  fail "initdb: $(tail -3 "$work/pg/initdb.log")"
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w start -o "-p $pgport -k $work/pg \
  -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_replication_slots=4 -c max_wal_senders=4 \
  -c fsync=off" >/dev/null || fail "postgres did not start"
pg_started=1
sql() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pgport" -U postgres -d postgres "$@"; }
conninfo="host=127.0.0.1 port=$pgport user=postgres dbname=postgres"

# The application's table, with rows the feed finds in its initial snapshot.
sql -c "CREATE TABLE stories (story_id bigint PRIMARY KEY, author_id bigint, created_at timestamptz,
        title text, tags text[], language text, is_original bool, deleted bool, updated_at timestamptz)"
sql -c "INSERT INTO stories SELECT i, 1 + i % 5, now(), 'story ' || i, ARRAY['t' || i % 3, 'x y'], 'en', i % 2 = 0,
        false, now() FROM generate_series(1, 40) i"
history="$work/history.txt"
for i in $(seq 1 40); do echo "snapshot $i"; done >"$history"

start_server() {
  "$bin" serve --data-dir "$work/ws" --port "$port" --cdc-conninfo "$conninfo" --checkpoint-interval 500ms \
    >>"$work/server.log" 2>&1 &
  server=$!
  wait_http "$port" /readyz "$work/server.log"
}
start_server

# Transaction t (one psql each, so commit order is script order):
#   t%6 0: insert story 100+t      1: retitle a snapshot story
#   2: change a story's author      3: two updates in one transaction
#   4: an insert rolled back        5: delete the story inserted at t-5
for t in $(seq 1 "$transactions"); do
  s=$((t % 40 + 1)) s2=$(((t + 7) % 40 + 1))
  case $((t % 6)) in
    0) sql -c "INSERT INTO stories VALUES ($((100 + t)), $((t % 7 + 1)), now(), 'new $t', '{a,\"b c\"}', 'fr', true,
              false, now())"
       echo "insert $((100 + t))" >>"$history" ;;
    1) sql -c "UPDATE stories SET title = 'title $t', updated_at = now() WHERE story_id = $s"
       echo "update $s" >>"$history" ;;
    2) sql -c "UPDATE stories SET author_id = $((10 + t % 3)) WHERE story_id = $s"
       echo "update $s" >>"$history" ;;
    3) sql -c "BEGIN; UPDATE stories SET title = 'a $t' WHERE story_id = $s;
              UPDATE stories SET title = 'b $t' WHERE story_id = $s2; COMMIT"
       printf 'update %s\nupdate %s\n' "$s" "$s2" >>"$history" ;;
    4) sql -c "BEGIN; INSERT INTO stories VALUES ($((5000 + t)), 1, now(), 'never', '{}', 'en', false, false, now());
              ROLLBACK" ;;
    5) if [ $t -gt 5 ]; then
         sql -c "DELETE FROM stories WHERE story_id = $((100 + t - 5))"
         echo "delete $((100 + t - 5))" >>"$history"
       fi ;;
  esac
  if [ $t -eq $((transactions / 3)) ] || [ $t -eq $((2 * transactions / 3)) ]; then
    kill -9 "$server"; wait "$server" 2>/dev/null || true
    echo "cdc_crash_e2e: kill -9 of the server after transaction $t"
    start_server
  fi
done

# Wait for the feed to catch up, then compare.
sql -At -F'|' -c "SELECT story_id, author_id, title, deleted FROM stories" >"$work/final.txt"
ids=$(awk '{ print $2 }' "$history" | sort -un)
ok=0
for _ in $(seq 60); do
  : >"$work/catalog.txt"
  for i in $ids; do "$bin" catalog show "$i" --data-dir "$work/ws" >>"$work/catalog.txt" 2>/dev/null || true; done
  if /usr/bin/python3 "$repo/tests/cdc/check_cdc.py" "$work/ws/lake/cdc_stories" "$history" "$work/final.txt" \
       "$work/catalog.txt" >"$work/check.txt" 2>&1; then ok=1; break; fi
  sleep 1
done
cat "$work/check.txt"
[ $ok = 1 ] || fail "the lake or the catalogue differs from PostgreSQL"

# The takeover attack, against a story the catalogue got from PostgreSQL.
story=3
author=$(sql -At -c "SELECT author_id FROM stories WHERE story_id = $story")
token() { "$bin" token --data-dir "$work/ws" "$@"; }
attacker=$(token --sub 999 --region us --roles viewer,creator)
owner=$(token --sub "$author" --region us --roles creator)
admin=$(token --sub 1 --region us --roles admin)
now=$(date +%s%3N)
curl -sf -X POST "http://127.0.0.1:$port/v1/events" -H "Authorization: Bearer $attacker" \
  -H 'Content-Type: application/json' -d '{"events": [{"event_id": "0e0e0e0e-0000-4000-8000-000000000001",
  "type": "share", "story_id": '$story', "author_id": 999, "event_time": '$now'}]}' >/dev/null ||
  fail "the attacker's event was not accepted"
until WATERSHED_TOKEN=$admin "$bin" status --server "127.0.0.1:$port" | grep -qx 'lag: 0'; do sleep 0.1; done
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $attacker" \
  "http://127.0.0.1:$port/v1/stories/$story/metrics")
[ "$code" = 403 ] || fail "the attacker reads story $story's metrics (HTTP $code)"
body=$(curl -sf -H "Authorization: Bearer $owner" "http://127.0.0.1:$port/v1/stories/$story/metrics") ||
  fail "the author cannot read story $story"
echo "$body" | grep -q "\"author_id\":$author,.*\"shares\":1" || fail "the author reads $body"
echo "cdc_crash_e2e: passed"
