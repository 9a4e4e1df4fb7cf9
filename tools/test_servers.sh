# Servers the end-to-end tests start on loopback, and stop by pid: sourced by
# tools/crash_test.sh and tests/processor_failover.sh. Expects $bin (the
# watershed binary) and $work (a scratch directory) to be set, and the
# caller's EXIT trap to kill every pid in $helpers.
helpers=""

# Sets $port to a free loopback port P such that P..P+10 and their Redis
# Cluster bus ports P+10000..P+10010 are free too, all below the ephemeral
# range (32768+), so the ports stay free across the test's restarts.
pick_port() {
  port=""
  for _ in $(seq 50); do
    local candidate=$((15000 + RANDOM % 7000))
    if ! ss -ltn "( sport >= :$candidate and sport <= :$((candidate + 10)) ) or \
                  ( sport >= :$((candidate + 10000)) and sport <= :$((candidate + 10010)) )" | grep -q LISTEN; then
      port=$candidate; return 0
    fi
  done
  echo "$(basename "$0"): no free port"; exit 1
}

# librdkafka's mock cluster (`watershed kafka-mock`, 3 brokers) in a process
# of its own, so it outlives the kills; sets $kafka_spec (kafka-mock://...:
# the mock's topics keep CreateTime, which kafka:// refuses).
# Note: the mock keeps only the last 5 MiB of each partition, so a test must
# stay well below that per partition or a restore from an old offset fails.
start_kafka_mock() {  # PARTITIONS
  "$bin" kafka-mock --partitions "$1" >"$work/kafka.out" 2>"$work/kafka.log" &
  helpers="$helpers $!"
  for _ in $(seq 50); do [ -s "$work/kafka.out" ] && break; sleep 0.1; done
  [ -s "$work/kafka.out" ] || { echo "kafka-mock did not start"; cat "$work/kafka.log"; exit 1; }
  kafka_spec="kafka-mock://$(head -1 "$work/kafka.out")"
}

# One redis-server on PORT; sets $redis_spec (redis://...).
start_redis() {  # PORT
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
  helpers="$helpers $!"
  for _ in $(seq 50); do redis-cli -p "$1" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$1" ping >/dev/null || { echo "redis-server did not start"; exit 1; }
  redis_spec="redis://127.0.0.1:$1"
}

# A Redis Cluster of three masters with a replica each on ports BASE+1..BASE+6;
# sets $redis_spec (redis-cluster://...) and node_pid[PORT].
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
start_redis_cluster() {  # BASE
  local nodes=()
  for i in 1 2 3 4 5 6; do
    start_redis_node $(($1 + i))
    nodes+=("127.0.0.1:$(($1 + i))")
  done
  for n in "${nodes[@]}"; do
    for _ in $(seq 50); do redis-cli -p "${n##*:}" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$work/cluster-create.log" 2>&1 ||
    { echo "cluster create failed"; cat "$work/cluster-create.log"; exit 1; }
  for _ in $(seq 100); do
    redis-cli -p $(($1 + 1)) cluster info 2>/dev/null | grep -q cluster_state:ok && break; sleep 0.1
  done
  redis_spec="redis-cluster://${nodes[0]},${nodes[1]},${nodes[2]}"
}

# Kills a master of the cluster at BASE with -9, waits for its replica's
# promotion, restarts the killed node and waits until it has re-synced as
# the new master's replica (until then, writes that WAIT for a replica to
# the promoted master's slots are retried).
fail_over_redis_master() {  # BASE
  local victim=""
  for i in 1 2 3 4 5 6; do
    if redis-cli -p $(($1 + i)) role 2>/dev/null | head -1 | grep -q master; then victim=$(($1 + i)); break; fi
  done
  [ -n "$victim" ] || { echo "no Redis master found"; exit 1; }
  local replica
  replica=$(redis-cli -p "$victim" info replication | sed -n 's/^slave0:.*port=\([0-9]*\).*/\1/p')
  [ -n "$replica" ] || { echo "Redis master :$victim has no replica"; exit 1; }
  kill -9 "${node_pid[$victim]}"
  echo "kill -9 of Redis master :$victim at $(date +%T.%N | cut -c1-12)"
  for _ in $(seq 300); do
    redis-cli -p "$replica" role 2>/dev/null | head -1 | grep -q master && break; sleep 0.1
  done
  redis-cli -p "$replica" role | head -1 | grep -q master || { echo "replica :$replica not promoted"; exit 1; }
  echo "replica :$replica promoted at $(date +%T.%N | cut -c1-12)"
  start_redis_node "$victim"
  for _ in $(seq 300); do
    redis-cli -p "$replica" info replication 2>/dev/null | grep -q "port=$victim,state=online" && break; sleep 0.1
  done
  echo "Redis failover done, :$victim restarted as a replica"
}

# Waits until http://127.0.0.1:PORT/PATH answers 2xx; exits naming LOG otherwise.
wait_http() {  # PORT PATH LOG
  for _ in $(seq 150); do
    curl -sf "http://127.0.0.1:$1$2" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "nothing answers on :$1$2"; cat "$3"; exit 1
}

# Records in the logs: the sum of log_end_offset over /v1/status of PORT.
log_records() {  # PORT
  curl -sf "http://127.0.0.1:$1/v1/status" | grep -o '"log_end_offset": *[0-9]*' | awk -F: '{ s += $2 } END { print s + 0 }'
}

# Compares the lake under ROOT with the ground truth (tests/lake/check_lake.py:
# manifests by python3-avro, rows by DuckDB); exits on a difference.
# Encrypted lakes: also --keys WATERSHED_BINARY --data-dir DIR (check_lake.py).
check_lake() {  # ROOT TRUTH LOG_RECORDS [check_lake.py options]
  /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/../tests/lake/check_lake.py" "$1" "$2" --log-records "$3" "${@:4}" ||
    { echo "the lake differs from the ground truth"; exit 1; }
}
