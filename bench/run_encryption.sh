#!/usr/bin/env bash
# Ingest with encryption at rest off vs on (issue #13), same run: POST
# /v1/events at batch 100 over CONNECTIONS connections into `watershed serve
# --fsync always` (group commit), the two arms alternating RUNS times on a
# fresh data dir each. With encryption on, every log record is sealed
# (AES-256-GCM under its segment's data key), and so are checkpoints and cold
# stores. Prints each run's rate and request latency percentiles, the median
# of each arm and their ratio (goal: >= 0.9).
# usage: bench/run_encryption.sh [BUILD_DIR (build/bench)] [EVENTS (1000000)] [RUNS (5)] [CONNECTIONS (32)]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/bench}"
events="${2:-1000000}"
runs="${3:-5}"
conns="${4:-32}"
bin="$build/src/app/watershed"
port=$((21000 + RANDOM % 20000))
work="$(mktemp -d /tmp/watershed-bench-enc.XXXXXX)"
pid=""
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT

wait_up() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v1/status" >/dev/null && return 0; sleep 0.1; done; return 1; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
rate_of() { sed -n "s/.* in [0-9.]* s (\([0-9]*\) events\/s).*/\1/p"; }
latency_of() { sed -n "s/^load: request latency over [0-9]* requests: //p"; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "# encryption ingest: $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD) nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\" aes=$(grep -qw aes /proc/cpuinfo && echo yes || echo no)"
echo "# $events events per run, batch 100, $conns connections, fsync=always, load generator on the same cores"
off_rates=(); on_rates=()
for run in $(seq "$runs"); do
  for arm in off on; do
    rm -rf "$work/data"
    flags=(--encryption "$arm")
    if [ "$arm" = on ]; then
      for r in us eu apac; do "$bin" keys create --region "$r" --data-dir "$work/data" >/dev/null; done
    fi
    "$bin" serve --data-dir "$work/data" --port "$port" --auth off --fsync always "${flags[@]}" >"$work/serve.log" 2>&1 & pid=$!
    wait_up
    out=$("$bin" load --server "127.0.0.1:$port" --rate 0 --events "$events" --connections "$conns" --batch 100 \
          --duplicate-batches 0 --event-time-rate 20000)
    rate=$(echo "$out" | rate_of)
    if [ "$arm" = on ]; then
      on_rates+=("$rate")
      # The arm measured what it claims: the log's segments are sealed.
      sealed=$(find "$work/data/log" -name '*.seg.key' | wc -l)
      [ "$sealed" -gt 0 ] || { echo "run_encryption: no sealed segment in the on arm"; exit 1; }
    else
      off_rates+=("$rate")
    fi
    printf 'encryption %-3s run %s: %s events/s, server cpu %s s, latency %s\n' "$arm" "$run" "$rate" "$(cpu_s $pid)" \
      "$(echo "$out" | latency_of)"
    kill -TERM $pid; wait $pid || true; pid=""
  done
done
off=$(printf '%s\n' "${off_rates[@]}" | median)
on=$(printf '%s\n' "${on_rates[@]}" | median)
echo "median: encryption off $off events/s, on $on events/s, ratio on/off $(awk -v a="$on" -v b="$off" 'BEGIN{printf "%.2f", a / b}')"
