#!/usr/bin/env bash
# Exactly-once under kill -9: runs `watershed serve`, sends the generated
# load with client retries, kill -9s the server at random moments KILLS
# times, restarts it each time, and finally requires every story's totals
# and every window (value and final flag) to equal the ground truth.
#
# usage: tools/crash_test.sh WATERSHED_BINARY [KILLS (5)] [EVENTS (400000)] [RATE (20000)] [CRASH_POINT]
# With CRASH_POINT (e.g. checkpoint.after_temp_sync), every server start
# arms that named crash point (core/crash_point.h) and the test waits for the
# server to die there by itself instead of sending kill -9 (at a checkpoint,
# or in the recovery of the start after it).
# With LIVE_STORE=redis in the environment, the metrics live in a real
# redis-server started here (and stopped by pid): it survives the kills, so
# the test also proves that replays after a restore never move a value back.
# LIVE_STORE=redis-cluster does the same on a 3-master Redis Cluster (with
# replicas) made here with redis-cli --cluster create; REDIS_FAILOVER=1 also
# kills a Redis master mid-run (writes then wait for a replica). LOG=kafka-mock puts
# the log in Kafka (librdkafka's mock cluster, a separate process).
# Then the server stops (SIGTERM: final checkpoints and lake commits) and the
# lake must hold every log record once in raw_events, every distinct event
# once in events and the final minutes in story_minute, with no orphan file
# (tests/lake/check_lake.py, DuckDB + python3-avro).
# ENCRYPTION=on: log segments, checkpoints, cold stores and lake files
# encrypted under keys made here for every region (docs/encryption.md), with
# small log segments; the end also checks that every checkpoint and log
# segment is sealed and every lake file encrypted (read with its key).
# STORY_IDLE_EVICT: --story-idle-evict (e.g. 1s: stories
# move to the cold store and back all through the run).
# Exit 0 when the verification finds zero mismatches.
set -euo pipefail
bin="$(realpath "$1")"
kills="${2:-5}"
events="${3:-400000}"
rate="${4:-20000}"
crash_point="${5:-}"
work="$(mktemp -d /tmp/watershed-crash.XXXXXX)"
server=""
load=""
source "$(dirname "$0")/test_servers.sh"
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  [ -n "$helpers" ] && kill -9 $helpers 2>/dev/null || true
  [ -n "$load" ] && kill -9 "$load" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The server takes $port, Redis the next ports (test_servers.sh); the same
# ports across restarts.
pick_port
store_flags=()
if [ "${LOG:-embedded}" = kafka-mock ]; then
  start_kafka_mock 8
  store_flags+=(--log "$kafka_spec")
fi
if [ "${LIVE_STORE:-memory}" = redis ]; then
  start_redis $((port + 1))
  store_flags+=(--live-store "$redis_spec")
elif [ "${LIVE_STORE:-memory}" = redis-cluster ]; then
  start_redis_cluster "$port"
  store_flags+=(--live-store "$redis_spec")
  # REDIS_FAILOVER=1: writes wait for a replica (WAIT 1), and during the run
  # a Redis master is killed (its replica takes over), then restarted (it
  # rejoins as the new master's replica).
  [ "${REDIS_FAILOVER:-0}" = 1 ] && store_flags+=(--live-store-wait-replicas 1)
fi

# LAKE_MAINTENANCE=DURATION: lake maintenance (compaction, snapshot expiry)
# runs that often inside the server, racing the sink's commits and the kills;
# the lake check then follows a remove-orphans run.
# LAKE_COMMIT_INTERVAL (default: the server's 5m, so the kills mostly find
# uncommitted lake files and buffers in the checkpoints and the final stop
# commits them; with a CRASH_POINT the default is 0, a commit at every
# checkpoint, as the crash points of the commit path need).
# LAKE_FILE_SIZE: --lake-file-size (small: files cut by size between
# checkpoints, so lake.after_data_file fires in the middle of buffers).
lake_flags=()
[ -n "${LAKE_MAINTENANCE:-}" ] && lake_flags+=(--lake-maintenance-interval "$LAKE_MAINTENANCE" --lake-snapshot-retention 0)
if [ -n "${LAKE_COMMIT_INTERVAL:-}" ]; then
  lake_flags+=(--lake-commit-interval "$LAKE_COMMIT_INTERVAL")
elif [ -n "$crash_point" ]; then
  lake_flags+=(--lake-commit-interval 0)
fi
[ -n "${LAKE_FILE_SIZE:-}" ] && lake_flags+=(--lake-file-size "$LAKE_FILE_SIZE")
[ -n "${STORY_IDLE_EVICT:-}" ] && lake_flags+=(--story-idle-evict "$STORY_IDLE_EVICT")
if [ "${ENCRYPTION:-off}" = on ]; then
  for r in us eu apac; do "$bin" keys create --region "$r" --data-dir "$work/data" >/dev/null; done
  # Small segments: kills land around segment rolls (a key file, then its segment) too.
  lake_flags+=(--encryption on --segment-size 64KiB)
fi

start_server() {
  # Short checkpoint interval so kills land before, during and after checkpoints;
  # event time runs ahead of the wall clock (see --event-time-rate below).
  WATERSHED_CRASH_POINT="$crash_point" "$bin" serve --data-dir "$work/data" --port "$port" --auth off --checkpoint-interval 700ms --max-future 1h "${store_flags[@]}" "${lake_flags[@]}" \
    >>"$work/server.log" 2>&1 &
  server=$!
  # An armed crash point may also fire during recovery (a lake commit that
  # a checkpoint prepared is finished at start): that counts as its next crash.
  if [ -n "$crash_point" ]; then
    for _ in $(seq 150); do
      curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 || kill -0 "$server" 2>/dev/null || return 0
      curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
      sleep 0.1
    done
  fi
  wait_http "$port" /readyz "$work/server.log"
}

start_server
# Event time runs ahead of the wall clock (at least 500 events per second of
# event time, at most 10 minutes in all, within the server's --max-future):
# the load spans minutes of event time, so windows close and become final.
event_rate=$(( events / 600 > 500 ? events / 600 : 500 ))
"$bin" load --server "127.0.0.1:$port" --events "$events" --rate "$rate" --stories 2000 --connections 4 \
  --event-time-rate "$event_rate" --truth "$work/truth.txt" >"$work/load.log" 2>&1 &
load=$!

for k in $(seq "$kills"); do
  if [ -n "$crash_point" ]; then
    # The armed crash point fires at the server's first checkpoint (log.roll.*: its first segment roll).
    status=0
    wait "$server" 2>/dev/null || status=$?
    [ "$status" -eq 137 ] || { echo "crash_test: server exited $status, not at crash point $crash_point"; exit 1; }
    echo "crash_test: crash point $crash_point #$k fired"
    [ "$k" -lt "$kills" ] || crash_point=""  # the last restart runs to the end
  else
    sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.3 + (r % 2000) / 1000 }')"
    if ! kill -0 "$load" 2>/dev/null; then echo "crash_test: load finished before kill $k"; break; fi
    kill -9 "$server"
    wait "$server" 2>/dev/null || true
    echo "crash_test: kill -9 #$k at $(date +%T.%N | cut -c1-12)"
  fi
  sleep 0.2
  start_server
  if [ "$k" = 1 ] && [ "${REDIS_FAILOVER:-0}" = 1 ]; then fail_over_redis_master "$port"; fi
done

if ! wait "$load"; then
  load=""
  echo "crash_test: load failed"; grep -v '^\[' "$work/load.log" | tail -20; exit 1
fi
load=""
tail -2 "$work/load.log"
# One more crash after the load, before verification: recovery alone must also converge.
kill -9 "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
crash_point=""
start_server
"$bin" load --server "127.0.0.1:$port" --verify "$work/truth.txt" --timeout 180s
records=$(log_records "$port")
kill -TERM "$server"; status=0; wait "$server" || status=$?; server=""
[ "$status" -eq 0 ] || { echo "crash_test: server exited $status on SIGTERM"; tail -5 "$work/server.log"; exit 1; }
if [ -n "${LAKE_MAINTENANCE:-}" ]; then
  # A kill -9 during a compaction or an expiry leaves files no snapshot
  # references; remove-orphans collects them once they are old enough.
  # Here time passes by backdating every file past its 1 h floor.
  find "$work/data/lake" -type f -exec touch -d '2 hours ago' {} +
  "$bin" lake remove-orphans --root "$work/data/lake" --older-than 1h | tail -3
fi
if [ "${ENCRYPTION:-off}" = on ]; then
  sealed=0
  for f in "$work"/data/checkpoints/*/p*.ckpt; do
    [ "$(head -c 4 "$f")" = WSE1 ] || { echo "crash_test: $f is not sealed"; exit 1; }
    sealed=$((sealed + 1))
  done
  [ "$sealed" -gt 0 ] || { echo "crash_test: no checkpoint to check"; exit 1; }
  echo "crash_test: all $sealed checkpoints sealed"
  # Every log segment with records is sealed: its key file beside it, and its
  # records of kind 2 (the byte after the 8-byte frame header).
  segs=0
  for f in "$work"/data/log/*/p*/*.seg; do
    [ -s "$f" ] || continue
    [ -f "$f.key" ] || { echo "crash_test: $f has no key file"; exit 1; }
    [ "$(od -An -tu1 -j8 -N1 "$f" | tr -d ' ')" = 2 ] || { echo "crash_test: $f is not sealed"; exit 1; }
    segs=$((segs + 1))
  done
  [ "$segs" -gt 0 ] || { echo "crash_test: no log segment to check"; exit 1; }
  for k in "$work"/data/log/*/p*/*.seg.key; do  # a key file left by a crash at a roll goes at the restart
    [ -f "${k%.key}" ] || { echo "crash_test: $k has no segment"; exit 1; }
  done
  echo "crash_test: all $segs log segments sealed"
fi
key_flags=()
if [ "${ENCRYPTION:-off}" = on ]; then
  # Every lake data file encrypted (Parquet modular encryption) with its key sidecar.
  plain=$(find "$work/data/lake" -name '*.parquet' -exec sh -c '[ "$(head -c 4 "$1")" = PARE ] || echo "$1"' _ {} \; | head -3)
  [ -z "$plain" ] || { echo "crash_test: lake files not encrypted: $plain"; exit 1; }
  key_flags=(--keys "$bin" --data-dir "$work/data")
fi
check_lake "$work/data/lake" "$work/truth.txt" "$records" "${key_flags[@]}"
