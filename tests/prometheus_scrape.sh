#!/usr/bin/env bash
# A real Prometheus server scrapes a running Watershed: after `watershed
# load` sends N events (no re-sent batches), PromQL answers N for the
# ingested, processed and made-visible counts; the alert rules load and are
# healthy; the exposition passes `promtool check metrics` (naming and type
# conventions). Exit 0 when every check holds.
# usage: tests/prometheus_scrape.sh WATERSHED_BINARY ALERTS_YML
set -euo pipefail
bin="$(realpath "$1")"
rules="$(realpath "$2")"
command -v prometheus >/dev/null || { echo "prometheus_scrape: FAIL: no prometheus (scripts/install-deps.sh)"; exit 1; }
work="$(mktemp -d /tmp/watershed-prom.XXXXXX)"
server="" prom=""
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  [ -n "$prom" ] && kill -9 "$prom" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
fail() {
  echo "prometheus_scrape: FAIL: $*"
  echo "--- server log"; tail -20 server.log 2>/dev/null || true
  echo "--- prometheus log"; tail -20 prometheus.log 2>/dev/null || true
  exit 1
}
free_port() {
  for _ in $(seq 50); do
    local candidate=$((20000 + RANDOM % 30000))
    ss -ltn "sport = :$candidate" | grep -q LISTEN || { echo "$candidate"; return; }
  done
  fail "no free port"
}
port=$(free_port)
prom_port=$(free_port)
[ "$port" != "$prom_port" ] || prom_port=$((port + 1))
events=20000

"$bin" serve --data-dir data --port "$port" --auth off --partitions 2 --checkpoint-interval 500ms >server.log 2>&1 &
server=$!
disown
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || fail "watershed did not start"

cat >prometheus.yml <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $rules
scrape_configs:
  - job_name: watershed
    static_configs:
      - targets: ['127.0.0.1:$port']
YML
prometheus --config.file=prometheus.yml --storage.tsdb.path=tsdb --web.listen-address="127.0.0.1:$prom_port" \
  >prometheus.log 2>&1 &
prom=$!
disown
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null || fail "prometheus did not start"

"$bin" load --server "127.0.0.1:$port" --events "$events" --rate 10000 --duplicate-batches 0 >load.log 2>&1 ||
  fail "load failed: $(cat load.log)"

# The value of a one-sample PromQL query (empty when there is none yet).
query() {
  curl -sf --get "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
for q in 'sum(watershed_ingest_events_total)' 'sum(watershed_processed_records_total)' \
         'sum(watershed_append_to_visible_seconds_count)' 'sum(watershed_http_responses_total{code="200"}) > 0'; do
  got=""
  for _ in $(seq 60); do
    got=$(query "$q")
    if [[ "$q" == *"> 0" ]]; then [ -n "$got" ] && break; else [ "$got" = "$events" ] && break; fi
    sleep 0.5
  done
  if [[ "$q" == *"> 0" ]]; then [ -n "$got" ] || fail "$q: no sample"
  else [ "$got" = "$events" ] || fail "$q = '$got', expected $events"; fi
  echo "prometheus_scrape: $q = $got"
done

# The alert rules loaded into the real server and evaluate without error.
curl -sf "http://127.0.0.1:$prom_port/api/v1/rules" | python3 -c '
import json, sys
rules = [r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]]
bad = [r["name"] for r in rules if r.get("health") != "ok"]
assert len(rules) >= 11 and not bad, (len(rules), bad)
print("prometheus_scrape: %d alert rules loaded, all healthy" % len(rules))' || fail "alert rules not healthy"

curl -sf "http://127.0.0.1:$port/metrics" >metrics.txt
promtool check metrics <metrics.txt || fail "promtool check metrics: $(promtool check metrics <metrics.txt 2>&1)"

# Every series the alerts and the Grafana dashboard name exists, and every
# dashboard query runs on the real server.
python3 - "$rules" "$(dirname "$rules")/../grafana/watershed.json" "$prom_port" <<'PY' || fail "alerts or dashboard"
import json, re, sys, urllib.parse, urllib.request
rules, dashboard, prom_port = sys.argv[1], sys.argv[2], sys.argv[3]
exposed = {re.sub(r"_(bucket|sum|count)$", "", l.split("{")[0].split(" ")[0])
           for l in open("metrics.txt") if l.startswith("watershed_")}
dash = json.load(open(dashboard))
exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
named = set(re.findall(r"watershed_[a-z0-9_]+", open(rules).read() + " ".join(exprs)))
named = {re.sub(r"_(bucket|sum|count)$", "", n) for n in named}
missing = sorted(named - exposed)
assert not missing, "named but not exposed: %s" % missing
for e in exprs:
    q = urllib.parse.urlencode({"query": e.replace("$job", ".*")})
    r = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/v1/query?%s" % (prom_port, q)))
    assert r["status"] == "success", (e, r)
print("prometheus_scrape: %d series named by the alerts and dashboard exposed; %d dashboard queries ran" % (len(named), len(exprs)))
PY
echo "prometheus_scrape: OK"
