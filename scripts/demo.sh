#!/usr/bin/env bash
# The demo command: install what is missing, build (Release), start
# `watershed serve` on 127.0.0.1 with the embedded defaults (auth on: the
# server generates its HS256 secret on first start), drive a sample load in
# which every request carries its viewer's signed token, and print the live
# top stories while it runs.
#   DEMO_SECONDS (60)  DEMO_RATE (5000 events/s)  WATERSHED_PORT (8080)
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
secret="$data/auth/hs256.secret"
admin=$("$bin" token --data-dir "$data" --sub 1 --region us --roles admin --ttl 1h)
creator=$("$bin" token --data-dir "$data" --sub 2 --region eu --roles creator --ttl 1h)

cat <<MSG

Watershed is running on http://127.0.0.1:$port (data in $data), auth on. While the load runs, try:
  T=\$($bin token --data-dir $data --sub 1 --region us --roles analyst)
  curl -s -H "Authorization: Bearer \$T" http://127.0.0.1:$port/v1/top?limit=5
  curl -s -H "Authorization: Bearer \$T" http://127.0.0.1:$port/v1/stories/1/metrics
  curl -s -H "Authorization: Bearer \$T" "http://127.0.0.1:$port/v1/stories/1/series?window=5s"
  curl -s http://127.0.0.1:$port/v1/status                      # 401: no token
  C=\$($bin token --data-dir $data --sub 2 --region eu --roles creator)
  curl -s -H "Authorization: Bearer \$C" http://127.0.0.1:$port/v1/creators/2/top   # a creator's own list
  curl -s -H "Authorization: Bearer \$C" http://127.0.0.1:$port/v1/creators/3/top   # 403: someone else's
  curl -s http://127.0.0.1:$port/metrics
In a browser: the creator dashboard http://127.0.0.1:$port/ (sign in with creator 2's token:
  $creator)
  and the operator page http://127.0.0.1:$port/ops (with the admin token: $admin)
MSG
"$bin" load --server "127.0.0.1:$port" --secret-file "$secret" --rate "${DEMO_RATE:-5000}" --connections 24 \
  --duration "${DEMO_SECONDS:-60}s" --show-top 5 --truth "$data/truth.txt"
echo
echo "Checking every story and window against the ground truth of what was sent:"
"$bin" load --server "127.0.0.1:$port" --token "$admin" --verify "$data/truth.txt"
"$bin" status --server "127.0.0.1:$port" --token "$admin" | tail -n 1
echo
echo "The lake (Iceberg tables under $data/lake/<region>/; a file per Iceberg partition when its buffer is full or old,"
echo "committed every lake-commit-interval and at shutdown; docs/lake.md):"
for t in raw_events events story_minute; do
  echo "  $t: $(find "$data/lake" -path "*/$t/data/*" -name '*.parquet' | wc -l) Parquet files"
done
