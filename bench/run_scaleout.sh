#!/usr/bin/env bash
# Ingest and processing with the scale-out parts on one machine: the same
# load (batch 100, 32 connections, auth off, fsync always) into
# `watershed serve` with embedded log + memory store, embedded log + Redis,
# and Kafka (librdkafka's mock cluster, `watershed kafka-mock`, its own
# process) + Redis; RUNS times each, alternating. Reports acknowledged
# events/s, the time until every acknowledged event is visible (/v1/status
# lag 0), server CPU, and Redis CPU per event.
# The Kafka mock keeps everything in memory and does not replicate: its row
# measures our code around librdkafka, not a Kafka cluster.
# usage: bench/run_scaleout.sh [BUILD_DIR (build/release)] [EVENTS (300000)] [RUNS (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
events="${2:-300000}"
runs="${3:-3}"
bin="$(realpath "$build/src/app/watershed")"
work="$(mktemp -d /tmp/watershed-scaleout.XXXXXX)"
port=$((15000 + RANDOM % 7000))
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }

redis-server --port $((port + 1)) --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
redis=$!; pids+=("$redis")
"$bin" kafka-mock --partitions 8 >"$work/kafka.out" 2>"$work/kafka.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/kafka.out" ] && redis-cli -p $((port + 1)) ping >/dev/null 2>&1 && break; sleep 0.1; done
kafka="kafka://$(head -1 "$work/kafka.out")"

echo "# scale-out: $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD) nproc=$(nproc); $events events per run"
run() {  # NAME FLAGS...
  local name=$1; shift
  redis-cli -p $((port + 1)) flushall >/dev/null
  local redis_before; redis_before=$(cpu_s "$redis")
  rm -rf "$work/data"
  "$bin" serve --data-dir "$work/data" --port "$port" --auth off "$@" >"$work/serve.log" 2>&1 &
  local server=$!; pids+=("$server")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  local t0; t0=$(date +%s.%N)
  local rate
  rate=$("$bin" load --server "127.0.0.1:$port" --rate 0 --events "$events" --connections 32 --batch 100 \
         --duplicate-batches 0 --event-time-rate 20000 | sed -n "s/.* in [0-9.]* s (\([0-9]*\) events\/s).*/\1/p")
  while [ "$(curl -s "http://127.0.0.1:$port/v1/status" | sed 's/.*"lag":\([0-9]*\).*/\1/')" != 0 ]; do sleep 0.02; done
  local visible; visible=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  local redis_us; redis_us=$(awk -v a="$redis_before" -v b="$(cpu_s "$redis")" -v n="$events" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
  echo "$name: $rate events/s acked, all visible after $visible s, server cpu $(cpu_s "$server") s, redis cpu $redis_us µs/event"
  kill -TERM "$server"; wait "$server" || true
}
for r in $(seq "$runs"); do
  run "embedded+memory  run $r"
  run "embedded+redis   run $r" --live-store "redis://127.0.0.1:$((port + 1))"
  run "kafka-mock+redis run $r" --log "$kafka" --live-store "redis://127.0.0.1:$((port + 1))"
done
