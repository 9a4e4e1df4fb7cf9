#!/usr/bin/env bash
# Exactly-once under kill -9: runs `watershed serve`, sends the generated
# load with client retries, kill -9s the server at random moments KILLS
# times, restarts it each time, and finally requires every story's totals
# and every window (value and final flag) to equal the ground truth.
#
# usage: tools/crash_test.sh WATERSHED_BINARY [KILLS (5)] [EVENTS (400000)] [RATE (20000)] [CRASH_POINT]
# With CRASH_POINT (e.g. checkpoint.after_temp_sync), every server start
# arms that named crash point (core/crash_point.h) and the test waits for the
# server to die there by itself instead of sending kill -9.
# With LIVE_STORE=redis in the environment, the metrics live in a real
# redis-server started here (and stopped by pid): it survives the kills, so
# the test also proves that replays after a restore never move a value back.
# LIVE_STORE=redis-cluster does the same on a 3-master Redis Cluster (with
# replicas) made here with redis-cli --cluster create; REDIS_FAILOVER=1 also
# kills a Redis master mid-run (writes then wait for a replica). LOG=kafka-mock puts
# the log in Kafka (librdkafka's mock cluster, a separate process).
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
helpers=""  # pids of the servers started for the test (Redis, Kafka mock)
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  [ -n "$helpers" ] && kill -9 $helpers 2>/dev/null || true
  [ -n "$load" ] && kill -9 "$load" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port that stays the same across restarts.
port=""
for _ in $(seq 50); do
  # The server takes the port, helper servers (Redis) the next seven, and a
  # Redis Cluster node's bus its port + 10000: all below the ephemeral range (32768+).
  candidate=$((15000 + RANDOM % 7000))
  if ! ss -ltn "( sport >= :$candidate and sport <= :$((candidate + 7)) ) or \
                ( sport >= :$((candidate + 10000)) and sport <= :$((candidate + 10007)) )" | grep -q LISTEN; then
    port=$candidate; break
  fi
done
[ -n "$port" ] || { echo "crash_test: no free port"; exit 1; }

store_flags=()
# With LOG=kafka-mock the log is Kafka: librdkafka's mock cluster in a
# process of its own (`watershed kafka-mock`), which outlives the kills.
if [ "${LOG:-embedded}" = kafka-mock ]; then
  "$bin" kafka-mock --partitions 8 >"$work/kafka.out" 2>"$work/kafka.log" &
  helpers="$helpers $!"
  for _ in $(seq 50); do [ -s "$work/kafka.out" ] && break; sleep 0.1; done
  [ -s "$work/kafka.out" ] || { echo "crash_test: kafka-mock did not start"; cat "$work/kafka.log"; exit 1; }
  store_flags+=(--log "kafka://$(head -1 "$work/kafka.out")")
fi
if [ "${LIVE_STORE:-memory}" = redis ]; then
  redis_port=$((port + 1))
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    >"$work/redis.log" 2>&1 &
  helpers="$helpers $!"
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$redis_port" ping >/dev/null || { echo "crash_test: redis-server did not start"; exit 1; }
  store_flags+=(--live-store "redis://127.0.0.1:$redis_port")
elif [ "${LIVE_STORE:-memory}" = redis-cluster ]; then
  # Three masters with a replica each, on ports port+1..port+6.
  declare -A node_pid
  start_redis_node() {  # PORT: (re)starts a node; its nodes.conf makes a restarted one rejoin
    mkdir -p "$work/redis-$1"
    redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --dir "$work/redis-$1" \
      --cluster-enabled yes --cluster-config-file "$work/redis-$1/nodes.conf" --cluster-node-timeout 2000 \
      --cluster-replica-validity-factor 0 --repl-ping-replica-period 1 --repl-diskless-sync-delay 0 \
      >>"$work/redis-$1.log" 2>&1 &
    node_pid[$1]=$!
    helpers="$helpers $!"
  }
  nodes=()
  for i in 1 2 3 4 5 6; do
    start_redis_node $((port + i))
    nodes+=("127.0.0.1:$((port + i))")
  done
  for n in "${nodes[@]}"; do
    for _ in $(seq 50); do redis-cli -p "${n##*:}" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$work/cluster-create.log" 2>&1 ||
    { echo "crash_test: cluster create failed"; cat "$work/cluster-create.log"; exit 1; }
  for _ in $(seq 100); do
    redis-cli -p $((port + 1)) cluster info 2>/dev/null | grep -q cluster_state:ok && break; sleep 0.1
  done
  store_flags+=(--live-store "redis-cluster://${nodes[0]},${nodes[1]},${nodes[2]}")
  # REDIS_FAILOVER=1: writes wait for a replica (WAIT 1), and during the run
  # a Redis master is killed (its replica takes over), then restarted (it
  # rejoins as the new master's replica).
  [ "${REDIS_FAILOVER:-0}" = 1 ] && store_flags+=(--live-store-wait-replicas 1)
fi

# Kills a Redis Cluster master with -9, waits for its replica's promotion,
# restarts the killed node. Only with LIVE_STORE=redis-cluster REDIS_FAILOVER=1.
fail_over_redis_master() {
  local victim=""
  for i in 1 2 3 4 5 6; do
    if redis-cli -p $((port + i)) role 2>/dev/null | head -1 | grep -q master; then victim=$((port + i)); break; fi
  done
  [ -n "$victim" ] || { echo "crash_test: no Redis master found"; exit 1; }
  local replica
  replica=$(redis-cli -p "$victim" info replication | sed -n 's/^slave0:.*port=\([0-9]*\).*/\1/p')
  [ -n "$replica" ] || { echo "crash_test: Redis master :$victim has no replica"; exit 1; }
  kill -9 "${node_pid[$victim]}"
  echo "crash_test: kill -9 of Redis master :$victim at $(date +%T.%N | cut -c1-12)"
  for _ in $(seq 300); do
    redis-cli -p "$replica" role 2>/dev/null | head -1 | grep -q master && break; sleep 0.1
  done
  redis-cli -p "$replica" role | head -1 | grep -q master || { echo "crash_test: replica :$replica not promoted"; exit 1; }
  echo "crash_test: replica :$replica promoted at $(date +%T.%N | cut -c1-12)"
  start_redis_node "$victim"
  # Until the old master has re-synced as a replica, writes to the promoted
  # master's slots cannot reach a replica (WAIT 1) and are retried.
  for _ in $(seq 300); do
    redis-cli -p "$replica" info replication 2>/dev/null | grep -q "port=$victim,state=online" && break; sleep 0.1
  done
  echo "crash_test: Redis failover done, :$victim restarted as a replica"
}

start_server() {
  # Short checkpoint interval so kills land before, during and after checkpoints;
  # event time runs ahead of the wall clock (see --event-time-rate below).
  WATERSHED_CRASH_POINT="$crash_point" "$bin" serve --data-dir "$work/data" --port "$port" --auth off --checkpoint-interval 700ms --max-future 1h "${store_flags[@]}" \
    >>"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "crash_test: server did not start"; cat "$work/server.log"; exit 1
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
    # The armed crash point fires at the server's first checkpoint.
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
  if [ "$k" = 1 ] && [ "${REDIS_FAILOVER:-0}" = 1 ]; then fail_over_redis_master; fi
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
