#!/usr/bin/env bash
# The dashboard in a real browser (Debian's headless Chromium driven by
# puppeteer-core, tools/browser/): `watershed serve` with auth on (a secret
# file) and dev-token-mint on, `watershed load` running in the background
# (its stories registered in the catalogue by the load itself), then
# tools/browser/dashboard_test.mjs signs in with the mint button, sees a
# story's views change, sees the 403 for another creator's story, opens /ops
# with an admin token, checks 375 px has no horizontal scroll, and saves
# screenshots into ARTIFACT_DIR. Exit 0 when every check holds.
# usage: tests/dashboard_e2e.sh WATERSHED_BINARY ARTIFACT_DIR
set -euo pipefail
bin="$(realpath "$1")"
mkdir -p "$2"
artifacts="$(realpath "$2")"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
browser_dir="$root/tools/browser"
fail() {
  echo "dashboard_e2e: FAIL: $*"
  echo "--- server log"; tail -20 "$work/server.log" 2>/dev/null || true
  echo "--- load log"; tail -20 "$work/load.log" 2>/dev/null || true
  exit 1
}
work="$(mktemp -d /tmp/watershed-dashboard.XXXXXX)"
server="" load=""
cleanup() {
  [ -n "$load" ] && kill "$load" 2>/dev/null || true
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
chromium="${CHROMIUM:-$(command -v chromium || true)}"
[ -x "$chromium" ] || fail "no chromium (Debian package chromium: scripts/install-deps.sh)"
[ -f "$browser_dir/node_modules/puppeteer-core/package.json" ] ||
  fail "no tools/browser/node_modules (scripts/install-deps.sh runs npm ci there)"
cd "$work"

openssl rand -base64 48 >secret
chmod 600 secret
"$bin" serve --data-dir data --port 0 --auth-secret-file secret --dev-token-mint on --partitions 2 \
  --checkpoint-interval 1s >server.log 2>&1 &
server=$!
# Port 0: the server picks a free port and names it in its log.
port=""
for _ in $(seq 100); do
  # (server.log may not exist yet: the background shell opens it)
  port=$(sed -n 's|^watershed serve on http://127.0.0.1:\([0-9]*\).*|\1|p' server.log 2>/dev/null || true)
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || fail "watershed did not start"

# 40 stories of 4 authors: story s is by 1 + (s * 2654435761) % 4 (the
# workload's rule); the test signs in as the author of the most viewed story.
stories=40 authors=4
"$bin" load --server "127.0.0.1:$port" --secret-file secret --stories $stories --authors $authors \
  --rate 800 --connections 2 --duration 90s >load.log 2>&1 &
load=$!
admin=$("$bin" token --auth-secret-file secret --sub 1 --region us --roles admin)
# One refused event, for /ops's rejected-events-by-code row.
curl -s -o /dev/null -X POST "http://127.0.0.1:$port/v1/events" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' -d '{"events": [{"event_id": "nope", "type": "view"}]}'

DASHBOARD_URL="http://127.0.0.1:$port" ADMIN_TOKEN="$admin" STORIES=$stories AUTHORS=$authors \
  ARTIFACTS="$artifacts" CHROMIUM="$chromium" node "$browser_dir/dashboard_test.mjs" ||
  fail "the browser checks failed"
echo "dashboard_e2e: screenshots in $artifacts"
