#!/usr/bin/env bash
# The cost of security, end to end: the same ingest (one viewer per request,
# as a client sends its own user's events) with auth + rate limiting off and
# on, alternating RUNS times each: as fast as possible with fsync=never
# (CPU-bound), and at a fixed offered rate (RATE events/s) with fsync=never
# and fsync=always (the default), where the server's CPU per event compares
# the same work (at full speed a slower client also changes how many
# requests each group commit and wake-up serves).
# With auth on, `load` signs an HS256 token per request (--secret-file) and
# the server verifies it (mostly cache misses: every viewer has a token of
# its own) and charges the viewer's token bucket.
# usage: bench/run_auth.sh [BUILD_DIR (build/release)] [EVENTS (100000)] [RUNS (3)] [RATE (5000)]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
events="${2:-100000}"
runs="${3:-3}"
fixed_rate="${4:-5000}"
bin="$build/src/app/watershed"
port=$((21000 + RANDOM % 20000))
work="$(mktemp -d /tmp/watershed-auth-bench.XXXXXX)"
pid=""
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT

wait_up() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0; sleep 0.1; done; return 1; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "# auth cost: $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD) nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\""
echo "# $events events per run, one viewer per request, 24 connections (one per region x partition), load on the same cores"
for config in "never 0" "never $fixed_rate" "always $fixed_rate"; do
  read -r fsync rate_limit <<<"$config"
  declare -A rates=() cpus=()
  for run in $(seq "$runs"); do
    for mode in off on; do
      rm -rf "$work/data"
      "$bin" serve --data-dir "$work/data" --port "$port" --fsync "$fsync" --auth "$mode" >"$work/serve.log" 2>&1 & pid=$!
      wait_up
      if [ "$mode" = on ]; then
        flags=(--secret-file "$work/data/auth/hs256.secret")
      else
        flags=(--viewer-batches)
      fi
      out=$("$bin" load --server "127.0.0.1:$port" "${flags[@]}" --rate "$rate_limit" --events "$events" --connections 24 \
            --duplicate-batches 0 --event-time-rate 20000)
      rate=$(sed -n "s/.* in [0-9.]* s (\([0-9]*\) events\/s).*/\1/p" <<<"$out")
      lat=$(grep '^\[' <<<"$out" | tail -1 | sed -n 's/.*request \(p50 [0-9.]* ms  p99 [0-9.]* ms\).*/\1/p')
      cpu=$(cpu_s $pid)
      rates[$mode]+="$rate "; cpus[$mode]+="$cpu "
      echo "fsync=$fsync offered=${rate_limit/#0/max} auth=$mode run $run: $rate events/s, $lat, server cpu $cpu s ($(awk -v c="$cpu" -v n="$events" 'BEGIN{printf "%.2f", c / (n / 1e6)}') cpu-s per M events)"
      kill -TERM $pid; wait $pid || true; pid=""
    done
  done
  off=$(tr ' ' '\n' <<<"${rates[off]}" | grep . | median); on=$(tr ' ' '\n' <<<"${rates[on]}" | grep . | median)
  coff=$(tr ' ' '\n' <<<"${cpus[off]}" | grep . | median); con=$(tr ' ' '\n' <<<"${cpus[on]}" | grep . | median)
  echo "median fsync=$fsync offered=${rate_limit/#0/max}: auth off $off events/s, auth on $on events/s, ratio on/off $(awk -v a="$on" -v b="$off" 'BEGIN{printf "%.2f", a / b}'); server cpu off $coff s, on $con s (ratio $(awk -v a="$con" -v b="$coff" 'BEGIN{printf "%.2f", a / b}'))"
  unset rates cpus
done
