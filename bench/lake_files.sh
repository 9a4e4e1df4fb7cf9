#!/usr/bin/env bash
# Files per lake table after a README-demo-like run: `watershed serve`
# (defaults, auth off) under `watershed load` at RATE events/s for SECONDS,
# then SIGTERM (final checkpoint and lake commit); prints the server's peak
# RSS and per table the Parquet files, their bytes and mean size.
#   usage: bench/lake_files.sh WATERSHED_BINARY PORT [SECONDS (60)] [RATE (5000)] [serve flags...]
#   e.g.   bench/lake_files.sh build/release/src/app/watershed 18471 60 5000 --lake-carry-buffers off
set -euo pipefail
bin=$(realpath "$1"); port=$2; secs=${3:-60}; rate=${4:-5000}
shift $(( $# < 4 ? $# : 4 ))
data=$(mktemp -d /tmp/watershed-lake-files.XXXXXX)
"$bin" serve --data-dir "$data" --port "$port" --auth off "$@" >"$data.server.log" 2>&1 &
server=$!
trap 'kill -9 $server 2>/dev/null || true; rm -rf "$data" "$data".*.log' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
"$bin" load --server "127.0.0.1:$port" --rate "$rate" --connections 24 --duration "${secs}s" >"$data.load.log" 2>&1
peak=$(awk '/VmHWM/ {print int($2 / 1024) " MiB"}' /proc/$server/status)
kill -TERM $server
wait $server || true
echo "serve $* ; $(grep 'events generated' "$data.load.log"); server peak RSS $peak"
for t in raw_events events story_minute; do
  n=$(find "$data/lake" -path "*/$t/data/*" -name '*.parquet' | wc -l)
  bytes=$(find "$data/lake" -path "*/$t/data/*" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  echo "  $t: $n files, $bytes bytes, mean $(( n ? bytes / n / 1024 : 0 )) KiB"
done
