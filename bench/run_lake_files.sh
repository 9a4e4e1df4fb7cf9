#!/bin/bash
# Lake files left by a demo-style load (issue #20): `watershed serve` with the
# defaults (auth off) and `watershed load` at RATE events/s for SECONDS, then a
# clean stop (final checkpoint and lake commit); prints, per sink table, the
# Parquet files and bytes over the three regions, and their event hours.
# Run it once per log partition scheme to compare (bench/RESULTS.md, "Lake files"):
#   bench/run_lake_files.sh build/release/src/app/watershed legacy 60 5000
#   bench/run_lake_files.sh build/release/src/app/watershed aligned 60 5000
set -euo pipefail
bin=$1 scheme=${2:-aligned} secs=${3:-60} rate=${4:-5000} port=${WATERSHED_PORT:-18470}
ws=$(mktemp -d /tmp/watershed-lake-files.XXXXXX)
trap 'rm -rf "$ws"' EXIT
"$bin" serve --data-dir "$ws" --port "$port" --auth off --log-partition-scheme "$scheme" >"$ws/serve.log" 2>&1 &
server=$!
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
"$bin" load --server "127.0.0.1:$port" --connections 24 --rate "$rate" --duration "${secs}s" | tail -n 2
kill -TERM "$server"
wait "$server"
echo "LOG_META: $(cat "$ws/log/us/LOG_META")"
for t in raw_events events story_minute; do
  files=$(find "$ws"/lake/*/"$t"/data -name '*.parquet' -printf '%s %f\n' 2>/dev/null || true)
  n=$(grep -c . <<<"$files" || true)
  bytes=$(awk '{s += $1} END {print s + 0}' <<<"$files")
  hours=$(awk 'NF {split($2, f, "-"); h[f[4]]} END {print length(h)}' <<<"$files")
  echo "$t: $n files, $bytes bytes, mean $((n ? bytes / n : 0)) bytes, $hours event hour(s)/day(s)"
done
