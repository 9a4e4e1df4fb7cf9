#!/usr/bin/env bash
# The demo command: install what is missing, build (Release), start
# `watershed serve` on 127.0.0.1 with the embedded defaults, drive a sample
# load and print the live top stories while it runs.
#   DEMO_SECONDS (60)  DEMO_RATE (20000 events/s)  WATERSHED_PORT (8080)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=build/release
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target watershed
bin="$build/src/app/watershed"
port="${WATERSHED_PORT:-8080}"
data="$(mktemp -d /tmp/watershed-demo.XXXXXX)"

"$bin" serve --data-dir "$data" --port "$port" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done

cat <<MSG

Watershed is running on http://127.0.0.1:$port (data in $data). While the load runs, try:
  curl -s http://127.0.0.1:$port/v1/top?limit=5
  curl -s http://127.0.0.1:$port/v1/stories/1/metrics
  curl -s "http://127.0.0.1:$port/v1/stories/1/series?window=5s"
  curl -s http://127.0.0.1:$port/v1/status
  curl -s http://127.0.0.1:$port/metrics
MSG
"$bin" load --server "127.0.0.1:$port" --rate "${DEMO_RATE:-20000}" --duration "${DEMO_SECONDS:-60}s" \
  --show-top 5 --truth "$data/truth.txt"
echo
echo "Checking every story and window against the ground truth of what was sent:"
"$bin" load --server "127.0.0.1:$port" --verify "$data/truth.txt"
"$bin" status --server "127.0.0.1:$port" | tail -n 1
