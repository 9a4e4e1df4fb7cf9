#!/usr/bin/env bash
# Processors as a group, under kill -9 (issue #4): Kafka (librdkafka's mock
# cluster, its own process), Redis, one `watershed gateway`, two
# `watershed processor`s sharing a checkpoint directory, and one
# `watershed query serve`. While the load runs (with client retries):
#   1. both processors own partitions (the group split them);
#   2. kill -9 processor A: B must take all of A's partitions over (after
#      the group's session timeout), restoring A's last checkpoints;
#   3. restart A: the group hands some partitions back (B checkpoints them
#      as it gives them up);
#   4. kill -9 processor B: A must take everything over; restart B;
#   5. after the load, SIGTERM A (a graceful leave: exit 0, B owns all).
# Finally every story's totals and every window read through the query
# server must equal the ground truth of the distinct events, and
# `watershed status` against the query server must show lag 0.
#
# usage: tests/processor_failover.sh WATERSHED_BINARY [EVENTS (120000)] [RATE (5000)]
# LIVE_STORE=redis (default) or redis-cluster (3 masters with replicas);
# REDIS_FAILOVER=1 with redis-cluster also kills a Redis master between
# steps 3 and 4 (writes wait for a replica). KEEP_WORK=1 keeps the scratch
# directory (logs, lake, checkpoints) for a look after a failure.
set -euo pipefail
bin="$(realpath "$1")"
events="${2:-120000}"
rate="${3:-5000}"
work="$(mktemp -d /tmp/watershed-failover.XXXXXX)"
source "$(dirname "$0")/../tools/test_servers.sh"
declare -A proc_pid
gateway="" query="" load=""
cleanup() {
  kill -9 $gateway $query $load "${proc_pid[@]}" $helpers 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "processor_failover: FAILED: $*"
  for f in "$work"/*.log; do echo "--- $f"; grep -v AUTOCREATE "$f" | tail -15; done
  exit 1
}

# Ports: gateway $port, Redis $port+1..+6, processors A and B $port+7 and +8, query $port+9.
pick_port
start_kafka_mock 8
if [ "${LIVE_STORE:-redis}" = redis-cluster ]; then start_redis_cluster "$port"; else start_redis $((port + 1)); fi
common=(--auth off --log "$kafka_spec" --live-store "$redis_spec" --partitions 8 --max-future 1h
        --checkpoint-dir "$work/checkpoints" --catalog-dir "$work/catalog" --lake-root "$work/lake"
        --lake-commit-interval 10s --checkpoint-interval 700ms
        --kafka-session-timeout 3s)
[ "${REDIS_FAILOVER:-0}" = 1 ] && common+=(--live-store-wait-replicas 1)

"$bin" gateway "${common[@]}" --port "$port" --data-dir "$work/gateway" >>"$work/gateway.log" 2>&1 &
gateway=$!
"$bin" query serve "${common[@]}" --port $((port + 9)) --data-dir "$work/query" >>"$work/query.log" 2>&1 &
query=$!
declare -A proc_port=([A]=$((port + 7)) [B]=$((port + 8)))
start_processor() {  # NAME
  "$bin" processor "${common[@]}" --port "${proc_port[$1]}" --data-dir "$work/$1" >>"$work/processor-$1.log" 2>&1 &
  proc_pid[$1]=$!
  wait_http "${proc_port[$1]}" /healthz "$work/processor-$1.log"
}
# Partitions a processor owns now (all regions), from its /v1/status.
owned() { curl -sf "http://127.0.0.1:${proc_port[$1]}/v1/status" | grep -o '"partition":' | wc -l; }
total=24  # 3 regions x 8 partitions
wait_until() {  # SECONDS DESCRIPTION CONDITION...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq $((seconds * 10))); do "$@" && return 0; sleep 0.1; done
  fail "$what (not within $seconds s)"
}
owns_all() { [ "$(owned "$1")" -eq "$total" ]; }
owns_some() { [ "$(owned "$1")" -gt 0 ]; }
split_between() { local a b; a=$(owned A); b=$(owned B); [ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ $((a + b)) -eq "$total" ]; }
load_running() { kill -0 "$load" 2>/dev/null || fail "the load finished before the kills; raise EVENTS or lower RATE"; }

wait_http "$port" /healthz "$work/gateway.log"
wait_http $((port + 9)) /healthz "$work/query.log"
start_processor A
start_processor B
wait_until 90 "the group gives both processors partitions" split_between
echo "processor_failover: group formed: A owns $(owned A), B owns $(owned B)"

event_rate=$(( events / 600 > 500 ? events / 600 : 500 ))
"$bin" load --server "127.0.0.1:$port" --partitions 8 --events "$events" --rate "$rate" --stories 2000 \
  --connections 4 --event-time-rate "$event_rate" --truth "$work/truth.txt" >"$work/load.log" 2>&1 &
load=$!

sleep 1.5; load_running
kill -9 "${proc_pid[A]}"; wait "${proc_pid[A]}" 2>/dev/null || true
echo "processor_failover: kill -9 of processor A at $(date +%T.%N | cut -c1-12)"
wait_until 90 "B takes over every partition of the killed A" owns_all B
echo "processor_failover: B owns all $total partitions at $(date +%T.%N | cut -c1-12)"
start_processor A
wait_until 90 "the restarted A gets partitions back" split_between
echo "processor_failover: rebalanced: A owns $(owned A), B owns $(owned B)"

if [ "${REDIS_FAILOVER:-0}" = 1 ]; then fail_over_redis_master "$port"; fi

load_running
kill -9 "${proc_pid[B]}"; wait "${proc_pid[B]}" 2>/dev/null || true
echo "processor_failover: kill -9 of processor B at $(date +%T.%N | cut -c1-12)"
wait_until 90 "A takes over every partition of the killed B" owns_all A
start_processor B

wait "$load" || { load=""; fail "the load failed"; }
load=""
tail -2 "$work/load.log"

wait_until 90 "the group splits the partitions again" split_between
kill -TERM "${proc_pid[A]}"
status=0; wait "${proc_pid[A]}" || status=$?
[ "$status" -eq 0 ] || fail "processor A exited $status on SIGTERM"
wait_until 90 "B takes over what A gave up on SIGTERM" owns_all B
echo "processor_failover: A left gracefully, B owns all $total partitions"

"$bin" load --server "127.0.0.1:$((port + 9))" --verify "$work/truth.txt" --timeout 120s ||
  fail "the metrics in Redis differ from the ground truth"

# The status command against the query server: lag 0, and "-" for what only
# the processors know; the gateway has no /v1/status.
status_out=$("$bin" status --server "127.0.0.1:$((port + 9))") || fail "watershed status against the query server failed"
echo "$status_out" | tail -1 | grep -qx "lag: 0" || fail "status after verify: $(echo "$status_out" | tail -1)"
[ "$(echo "$status_out" | sed -n 2p | awk '{ print $5, $6 }')" = "- -" ] || fail "status shows: $(echo "$status_out" | sed -n 2p)"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/status")" = 404 ] ||
  fail "the gateway answers /v1/status"
# The lake the two processors filled, taking turns: each record once.
records=$(log_records "$((port + 9))")
kill -TERM "${proc_pid[B]}"; status=0; wait "${proc_pid[B]}" || status=$?
[ "$status" -eq 0 ] || fail "processor B exited $status on SIGTERM"
check_lake "$work/lake" "$work/truth.txt" "$records"
echo "processor_failover: passed"
