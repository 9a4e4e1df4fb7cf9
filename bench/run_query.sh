#!/usr/bin/env bash
# Live-metrics query latency: GET /v1/stories/{id}/metrics on
# `watershed serve` vs HGETALL of a same-sized hash on a local redis-server,
# both over loopback from one client connection, closed loop (the next request
# leaves when the answer arrived), alternating RUNS times; then ours at fixed
# rates. Prints percentiles and the p50/p99 ratios.
# usage: bench/run_query.sh [BUILD_DIR (build/release)] [REQUESTS (50000)] [RUNS (5)]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
requests="${2:-50000}"
runs="${3:-5}"
bin="$build/src/app/watershed"
port=$((21000 + RANDOM % 20000))
rport=$((port + 1))
work="$(mktemp -d /tmp/watershed-query.XXXXXX)"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; rm -rf "$work"' EXIT

echo "# query latency: $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD) nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\""
"$bin" serve --data-dir "$work/data" --port "$port" --auth off >"$work/serve.log" 2>&1 & pids+=($!)
redis-server --port "$rport" --save "" --appendonly no --daemonize no >"$work/redis.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$bin" load --server "127.0.0.1:$port" --rate 0 --events 200000 --connections 4 >/dev/null
"$bin" load --server "127.0.0.1:$port" --verify /dev/null >/dev/null 2>&1 || true
body=$(curl -s "http://127.0.0.1:$port/v1/stories/1/metrics")
echo "# watershed answer (${#body} bytes): $body"
# The same fields as a Redis hash.
redis-cli -p "$rport" HSET story:1 $(echo "$body" | tr -d '{}"' | tr ',:' '  ') >/dev/null

p_of() { sed -n "s/.* $1=\([0-9]*\)us.*/\1/p"; }
ours50=(); ours99=(); redis50=(); redis99=()
for run in $(seq "$runs"); do
  line=$(./"$build"/bench/http_probe query --server "127.0.0.1:$port" --story 1 --requests "$requests")
  echo "watershed run $run: $line"
  ours50+=("$(echo "$line" | p_of p50)"); ours99+=("$(echo "$line" | p_of p99)")
  # redis-benchmark prints "latency summary (msec): avg min p50 p95 p99 max" then the values.
  summary=$(redis-benchmark -p "$rport" -c 1 -n "$requests" HGETALL story:1 | grep -A2 'latency summary' | tail -1)
  r50=$(echo "$summary" | awk '{ printf "%d", $3 * 1000 }'); r99=$(echo "$summary" | awk '{ printf "%d", $5 * 1000 }')
  echo "redis     run $run: HGETALL p50=${r50}us p99=${r99}us (avg min p50 p95 p99 max ms: $summary)"
  redis50+=("$r50"); redis99+=("$r99")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
o50=$(median "${ours50[@]}"); o99=$(median "${ours99[@]}"); r50=$(median "${redis50[@]}"); r99=$(median "${redis99[@]}")
echo "median closed loop: watershed p50=${o50}us p99=${o99}us, redis HGETALL p50=${r50}us p99=${r99}us," \
     "ratio p50 $(awk -v a="$o50" -v b="$r50" 'BEGIN{printf "%.2f", a / b}') p99 $(awk -v a="$o99" -v b="$r99" 'BEGIN{printf "%.2f", a / b}')"
for rate in 1000 5000; do
  echo "watershed at fixed $rate/s: $(./"$build"/bench/http_probe query --server "127.0.0.1:$port" --story 1 --requests $((rate * 5)) --rate $rate)"
done
