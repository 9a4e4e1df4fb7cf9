#!/usr/bin/env bash
# Ingest and processing with the scale-out parts on one machine: the same
# load (batch 100, 32 connections, auth off, fsync always) into
# `watershed serve` with embedded log + memory store, embedded log + Redis,
# Kafka (librdkafka's mock cluster, `watershed kafka-mock`, its own process,
# fresh each run) + Redis, and Kafka + a 3-master Redis Cluster (no
# replicas); RUNS times each, alternating. Reports acknowledged events/s,
# the time until every acknowledged event is visible (/v1/status lag 0),
# server CPU, Redis CPU per event, Redis commands per event (write
# amplification: INFO total_commands_processed, all nodes) and Redis memory
# per story at the end of the run (used_memory over the story hashes).
# The Kafka mock keeps everything in memory and does not replicate: its rows
# measure our code around librdkafka, not a Kafka cluster.
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

redis_ports=($((port + 1)))
redis-server --port $((port + 1)) --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
cluster_ports=($((port + 2)) $((port + 3)) $((port + 4)))
for p in "${cluster_ports[@]}"; do
  mkdir -p "$work/c$p"
  redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --cluster-enabled yes --dir "$work/c$p" \
    --cluster-config-file "$work/c$p/nodes.conf" >"$work/c$p.log" 2>&1 &
  pids+=($!)
done
for p in "${redis_ports[@]}" "${cluster_ports[@]}"; do
  for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cluster_ports[@]}") --cluster-yes >/dev/null
for _ in $(seq 100); do redis-cli -p "${cluster_ports[0]}" cluster info | grep -q cluster_state:ok && break; sleep 0.1; done
single="redis://127.0.0.1:$((port + 1))"
cluster="redis-cluster://127.0.0.1:${cluster_ports[0]}"

echo "# scale-out: $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD) nproc=$(nproc); $events events per run"
# Sums of an INFO field over the nodes of PORTS.
info_sum() {  # FIELD PORTS...
  local field=$1; shift
  for p in "$@"; do redis-cli -p "$p" info all | sed -n "s/^$field:\([0-9]*\).*/\1/p"; done | awk '{ s += $1 } END { print s + 0 }'
}
cpu_sum() { local t=0; for p in "$@"; do t=$(awk -v a="$t" -v b="$(cpu_s "$(redis-cli -p "$p" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')")" 'BEGIN { print a + b }'); done; echo "$t"; }
run() {  # NAME LOG(embedded|kafka) STORE(memory|single|cluster)
  local name=$1 log=$2 store=$3 flags=() ports=()
  case $store in
    single) ports=("${redis_ports[@]}"); flags+=(--live-store "$single") ;;
    cluster) ports=("${cluster_ports[@]}"); flags+=(--live-store "$cluster") ;;
  esac
  for p in "${ports[@]}"; do redis-cli -p "$p" flushall >/dev/null; done
  local mock=""
  if [ "$log" = kafka ]; then
    # A fresh mock per run: it keeps only the last 5 MiB of each partition.
    "$bin" kafka-mock --partitions 8 >"$work/kafka.out" 2>"$work/kafka.log" &
    mock=$!; pids+=("$mock")
    for _ in $(seq 50); do [ -s "$work/kafka.out" ] && break; sleep 0.1; done
    flags+=(--log "kafka-mock://$(head -1 "$work/kafka.out")")  # the mock's topics keep CreateTime
  fi
  local redis_cpu0=0 commands0=0 memory0=0
  if [ ${#ports[@]} -gt 0 ]; then
    redis_cpu0=$(cpu_sum "${ports[@]}"); commands0=$(info_sum total_commands_processed "${ports[@]}")
    memory0=$(info_sum used_memory "${ports[@]}")
  fi
  rm -rf "$work/data"
  "$bin" serve --data-dir "$work/data" --port "$port" --auth off "${flags[@]}" >"$work/serve.log" 2>&1 &
  local server=$!; pids+=("$server")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  local t0; t0=$(date +%s.%N)
  local rate
  rate=$("$bin" load --server "127.0.0.1:$port" --rate 0 --events "$events" --connections 32 --batch 100 \
         --duplicate-batches 0 --event-time-rate 20000 | sed -n "s/.* in [0-9.]* s (\([0-9]*\) events\/s).*/\1/p")
  while [ "$(curl -s "http://127.0.0.1:$port/v1/status" | sed 's/.*"lag":\([0-9]*\).*/\1/')" != 0 ]; do sleep 0.02; done
  local visible; visible=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  local redis=""
  if [ ${#ports[@]} -gt 0 ]; then
    local stories=0
    for p in "${ports[@]}"; do stories=$((stories + $(redis-cli -p "$p" --scan --pattern 'ws:{*}:s' | wc -l))); done
    redis=$(awk -v c0="$redis_cpu0" -v c1="$(cpu_sum "${ports[@]}")" -v k0="$commands0" \
                -v k1="$(info_sum total_commands_processed "${ports[@]}")" -v m0="$memory0" \
                -v m1="$(info_sum used_memory "${ports[@]}")" -v n="$events" -v s="$stories" \
      'BEGIN { printf ", redis cpu %.1f µs/event, %.3f commands/event, %d stories, %.0f bytes/story", (c1 - c0) * 1e6 / n, (k1 - k0) / n, s, (m1 - m0) / s }')
  fi
  echo "$name: $rate events/s acked, all visible after $visible s, server cpu $(cpu_s "$server") s$redis"
  kill -TERM "$server"; wait "$server" || true
  if [ -n "$mock" ]; then kill -TERM "$mock"; wait "$mock" 2>/dev/null || true; fi
}
for r in $(seq "$runs"); do
  run "embedded+memory       run $r" embedded memory
  run "embedded+redis        run $r" embedded single
  run "kafka-mock+redis      run $r" kafka single
  run "kafka-mock+redis-clus run $r" kafka cluster
done
