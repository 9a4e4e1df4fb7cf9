#!/usr/bin/env bash
# The Kafka transport's ceiling: librdkafka's producer and consumer alone
# (bench/kafka_transport_bench: KafkaLog's producer settings and message
# shape, no Watershed code on the path) against `watershed kafka-mock
# --partitions 8` in its own process, the cluster run_scaleout.sh uses; RUNS
# times. Compare with the kafka-mock rows of run_scaleout.sh: the gap is
# what KafkaLog, the gateway and the processor add.
# Run r writes a fresh region of topic watershed.{us,eu,apac}[(r-1) % 3]
# starting at its high watermarks, so no run reads another's messages.
# The mock keeps everything in memory, does not replicate (acks=all is
# answered by the leader alone) and never fsyncs: a ceiling, not Kafka. It
# also keeps only the last 5 MiB (or 100000 batches) of each partition, so
# EVENTS must stay below about 330000 (the Zipf-skewed stories crowd
# partition 1; 325000 passed and 340000 failed on 2026-11-28) or the consume
# phase finds its start offset gone and the run fails.
# usage: bench/run_kafka_ceiling.sh [BUILD_DIR (build/release)] [EVENTS (300000)] [RUNS (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
events="${2:-300000}"
runs="${3:-3}"
bin="$(realpath "$build/src/app/watershed")"
bench="$(realpath "$build/bench/kafka_transport_bench")"
work="$(mktemp -d /tmp/watershed-kafka-ceiling.XXXXXX)"
pids=()
# SIGTERM: the mock shuts down cleanly on it (sigwait), and bash then
# reports no "Killed" job.
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }

"$bin" kafka-mock --partitions 8 >"$work/kafka.out" 2>"$work/kafka.log" &
mock=$!; pids+=("$mock")
for _ in $(seq 50); do [ -s "$work/kafka.out" ] && break; sleep 0.1; done
brokers="$(head -1 "$work/kafka.out")"
[ -n "$brokers" ] || { echo "kafka-mock did not start: $(cat "$work/kafka.log")" >&2; exit 1; }

echo "# kafka ceiling: $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD) nproc=$(nproc)" \
     "cpu=\"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)\"; $events events per run, 8 partitions"
regions=(us eu apac)
for r in $(seq "$runs"); do
  topic="watershed.${regions[$(((r - 1) % 3))]}"
  before=$(cpu_s "$mock")
  # librdkafka's warnings (the mock's old-broker AUTOCREATE notice) go to
  # run.err; shown only when the run fails.
  if ! "$bench" --brokers "$brokers" --topic "$topic" --events "$events" --partitions 8 --seed "$r" \
       >"$work/run.out" 2>"$work/run.err"; then
    cat "$work/run.out" "$work/run.err" >&2
    echo "run $r failed" >&2
    exit 1
  fi
  mock_us=$(awk -v a="$before" -v b="$(cpu_s "$mock")" -v n="$events" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
  sed "s/^/run $r $topic /" "$work/run.out"
  echo "run $r $topic mock cpu (both phases): $mock_us µs/event"
done
