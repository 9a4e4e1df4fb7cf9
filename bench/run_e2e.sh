#!/usr/bin/env bash
# End-to-end ingest benchmark: POST /v1/events at batch 100
# over CONNECTIONS connections into `watershed serve` (fsync=always, group commit),
# side by side with the reference echo_server (same HTTP transport, no work),
# alternating, RUNS times each; then ack→visible freshness under load.
# usage: bench/run_e2e.sh [BUILD_DIR (build/release)] [EVENTS (2000000)] [RUNS (5)] [CONNECTIONS (32)]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
events="${2:-2000000}"
runs="${3:-5}"
conns="${4:-32}"
bin="$build/src/app/watershed"
port=$((21000 + RANDOM % 20000))
work="$(mktemp -d /tmp/watershed-bench.XXXXXX)"
pid=""
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT

wait_up() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v1/status" >/dev/null && return 0; sleep 0.1; done; return 1; }
# CPU seconds (user+sys) and peak RSS of a process, from /proc.
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
rss_mib() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
rate_of() { sed -n "s/.* in [0-9.]* s (\([0-9]*\) events\/s).*/\1/p"; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "# e2e ingest: $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD) nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\""
echo "# $events events per run, batch 100, $conns connections, load generator on the same 2 cores"
ws_rates=(); echo_rates=()
for run in $(seq "$runs"); do
  rm -rf "$work/data"
  "$bin" serve --data-dir "$work/data" --port "$port" --auth off --fsync always >"$work/serve.log" 2>&1 & pid=$!
  wait_up
  rate=$("$bin" load --server "127.0.0.1:$port" --rate 0 --events "$events" --connections "$conns" --batch 100 \
         --duplicate-batches 0 --event-time-rate 20000 | rate_of)
  ws_rates+=("$rate")
  echo "watershed run $run: $rate events/s, server cpu $(cpu_s $pid) s ($(awk -v c="$(cpu_s $pid)" -v n="$events" 'BEGIN{printf "%.2f", c / (n / 1e6)}') cpu-s per M events), peak rss $(rss_mib $pid) MiB"
  kill -TERM $pid; wait $pid || true; pid=""

  ./"$build"/bench/echo_server "$port" 8 & pid=$!
  wait_up
  rate=$("$bin" load --server "127.0.0.1:$port" --rate 0 --events "$events" --connections "$conns" --batch 100 \
         --duplicate-batches 0 --event-time-rate 20000 | rate_of)
  echo_rates+=("$rate")
  echo "echo      run $run: $rate events/s, server cpu $(cpu_s $pid) s"
  kill -TERM $pid; wait $pid || true; pid=""
done
ws=$(printf '%s\n' "${ws_rates[@]}" | median)
ref=$(printf '%s\n' "${echo_rates[@]}" | median)
echo "median: watershed $ws events/s, echo reference $ref events/s, ratio $(awk -v a="$ws" -v b="$ref" 'BEGIN{printf "%.2f", a / b}')"

# Freshness: acknowledged → visible in the story's metrics, under a background load.
rm -rf "$work/data"
"$bin" serve --data-dir "$work/data" --port "$port" --auth off --fsync always >"$work/serve.log" 2>&1 & pid=$!
wait_up
"$bin" load --server "127.0.0.1:$port" --rate 100000 --duration 30s --connections 4 --event-time-rate 100000 >/dev/null &
load=$!
sleep 1
./"$build"/bench/http_probe freshness --server "127.0.0.1:$port" --probes 300
wait $load || true
kill -TERM $pid; wait $pid || true; pid=""
