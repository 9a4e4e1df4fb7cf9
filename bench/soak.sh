#!/usr/bin/env bash
# Soak (issue #18): `watershed serve` with auth on, for --duration at half of
# its measured capacity, under abuse and a kill -9 every --kill-every; RSS,
# fds, p99 and lag sampled into a CSV, plotted, and judged (bench/RESULTS.md,
# "Soak", says how and why).
#
#   1. capacity: a fresh server, `watershed load --rate 0` for --capacity-seconds
#      with the soak's workload and auth on; the soak's rate is half of it
#      (or --rate R to skip this phase);
#   2. a fresh server (auth on, the horizons below), and for --duration:
#      - good traffic: one `watershed load --rate R --truth` (per-viewer
#        HS256 tokens, 2 % re-sent batches, retries across the kills with the
#        same event ids);
#      - abuse: bench/soak_abuse.py (bad, expired and missing tokens, bad
#        JSON and protobuf, oversized bodies, duplicate storms) from 127.0.0.2;
#      - every --kill-every: kill -9 of the server, restarted on the same
#        data dir;
#      - bench/soak_sampler.py every --sample-every into soak.csv;
#   3. `load --verify` (0 mismatches; windows within the retention horizon),
#      the storm stories' check, then bench/soak_plot.py: soak.png, PASS/FAIL.
#
# Horizons: dedup-ttl, series-retention-5s/-1m and log-retention are set to
# --horizon (180 s) so that the state they keep stops growing by design
# before the warm-up ends (at the defaults, 1 h, 24 h and 7 d, it would grow
# for the whole hour: sizing, not a leak). 180 s covers the load's re-sends
# (it gives a batch up after 2 minutes of failures).
# lake-commit-interval acts as such a horizon too (60 s instead of 5m): in
# 8-minute validation runs with a kill every 2 minutes, RSS kept growing
# ~0.6 MB/s past the saturated state at 5m (the interval then restarted with
# the process, so none ever committed; it now counts across restarts) and
# stayed flat at 60 s (RESULTS.md, "Soak").
# The workload's key space is bounded for the same reason (--stories 1000
# --viewers 1000: exact all-time unique viewers saturate in the warm-up).
#
# usage: bench/soak.sh [--duration 3600] [--kill-every 600] [--sample-every 10] [--out DIR]
#        [--build build/release] [--rate R] [--capacity-seconds 20] [--horizon 180]
#        [--warmup S (max(duration/3, horizon + 60))] [--stories 1000] [--viewers 1000]
#        [--connections 24] [--abuse-rate 8]
# Exit 0 on PASS, 1 on FAIL, 2 on a usage or setup error. The out dir keeps
# soak.csv, soak.png, summary.txt, events.log and the logs (and the data dir
# with KEEP_DATA=1; it is removed otherwise, it grows to GBs).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=3600 kill_every=600 every=10 out="" build=build/release rate="" capacity_seconds=20 horizon=180
warmup="" stories=1000 viewers=1000 connections=24 abuse_rate=8
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2 ;; --kill-every) kill_every=$2 ;; --sample-every) every=$2 ;; --out) out=$2 ;;
    --build) build=$2 ;; --rate) rate=$2 ;; --capacity-seconds) capacity_seconds=$2 ;; --horizon) horizon=$2 ;;
    --warmup) warmup=$2 ;; --stories) stories=$2 ;; --viewers) viewers=$2 ;; --connections) connections=$2 ;;
    --abuse-rate) abuse_rate=$2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
  shift 2 || { echo "soak: $1 needs a value" >&2; exit 2; }
done
for n in "$duration" "$kill_every" "$every" "$capacity_seconds" "$horizon" "$stories" "$viewers" "$connections"; do
  [[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || { echo "soak: '$n' is not a positive whole number" >&2; exit 2; }
done
[ -z "$warmup" ] && warmup=$(( duration / 3 > horizon + 60 ? duration / 3 : horizon + 60 ))
bin="$(realpath "$build/src/app/watershed")"
[ -x "$bin" ] || { echo "soak: no $bin (build it: cmake --build $build --target watershed)" >&2; exit 2; }
python=/usr/bin/python3
$python -c 'import matplotlib' 2>/dev/null || { echo "soak: $python has no matplotlib (scripts/install-deps.sh)" >&2; exit 2; }
[ -n "$out" ] || out="$(mktemp -d /tmp/watershed-soak.XXXXXX)"
mkdir -p "$out"; out="$(realpath "$out")"
data="$out/data"
port=$((21000 + RANDOM % 20000))
api="127.0.0.1:$port"
pid="" load="" abuse="" sampler=""
cleanup() {
  kill -9 $pid $load $abuse 2>/dev/null || true
  [ -n "$sampler" ] && kill -TERM $sampler 2>/dev/null || true
  [ -n "${KEEP_DATA:-}" ] || rm -rf "$data" "$out/capacity-data"
}
trap cleanup EXIT
note() { echo "[$(date -u +%T)] $*" | tee -a "$out/events.log"; }

serve_args=(--port "$port" --dedup-ttl "${horizon}s" --series-retention-5s "${horizon}s"
            --series-retention-1m "${horizon}s" --log-retention "${horizon}s"
            --lake-commit-interval 60s)
load_args=(--server "$api" --stories "$stories" --viewers "$viewers" --connections "$connections")
start_server() {  # DATA_DIR RESTARTS
  "$bin" serve --data-dir "$1" "${serve_args[@]}" >>"$out/serve.log" 2>&1 &
  pid=$!
  echo "$pid $(date +%s.%N) $2" >"$out/server.pid"
}
wait_ready() {  # seconds until /readyz answers (recovery done)
  local t0; t0=$(date +%s.%N)
  for _ in $(seq 1200); do
    curl -sf "http://$api/readyz" >/dev/null && { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}'; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "soak: the server did not become ready; tail of $out/serve.log:" >&2; tail -20 "$out/serve.log" >&2; exit 1
}

note "soak: commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), nproc $(nproc), load average $(cut -d' ' -f1-3 /proc/loadavg), out $out"
note "soak: duration ${duration}s, kill -9 every ${kill_every}s, samples every ${every}s, warm-up ${warmup}s, horizon ${horizon}s, stories $stories, viewers $viewers, $connections connections"

# ---- Phase 1: capacity ----
if [ -z "$rate" ]; then
  start_server "$out/capacity-data" 0
  wait_ready >/dev/null
  "$bin" load "${load_args[@]}" --secret-file "$out/capacity-data/auth/hs256.secret" --rate 0 \
    --duration "${capacity_seconds}s" >"$out/capacity.log" 2>&1 ||
    { echo "soak: the capacity run failed:" >&2; tail -5 "$out/capacity.log" >&2; exit 1; }
  capacity=$(sed -n 's/.* in [0-9.]* s (\([0-9]*\) events\/s).*/\1/p' "$out/capacity.log")
  kill -TERM "$pid"; wait "$pid" || true; pid=""
  rm -rf "$out/capacity-data"
  [ -n "$capacity" ] && [ "$capacity" -gt 0 ] || { echo "soak: no rate in $out/capacity.log" >&2; exit 1; }
  rate=$((capacity / 2))
  note "capacity: $capacity events/s acknowledged (auth on, ${capacity_seconds}s at --rate 0, re-sent copies included); soak rate $rate events/s"
fi

# ---- Phase 2: the soak ----
start_server "$data" 0
note "server up in $(wait_ready) s (pid $pid)"
secret="$data/auth/hs256.secret"
token_ttl="$((duration + 3600))s"
viewer=$("$bin" token --data-dir "$data" --sub 990001 --region us --roles viewer --ttl "$token_ttl")
admin=$("$bin" token --data-dir "$data" --sub 1 --region us --roles admin --ttl "$token_ttl")

# The sampler runs from before the load, so the first samples show the idle server.
$python bench/soak_sampler.py --server "$api" --pid-file "$out/server.pid" --load-log "$out/load.log" \
  --abuse-status "$out/abuse.json" --out "$out/soak.csv" --every "$every" &
sampler=$!
"$bin" load "${load_args[@]}" --secret-file "$secret" --rate "$rate" --duration "${duration}s" \
  --truth "$out/truth.txt" >"$out/load.log" 2>&1 &
load=$!
$python bench/soak_abuse.py --server "$api" --secret-file "$secret" --viewer-token "$viewer" --admin-token "$admin" \
  --status "$out/abuse.json" --duration "$duration" --rate "$abuse_rate" --event-time-lag $((duration + 11)) \
  >"$out/abuse.log" 2>&1 &
abuse=$!
start=$(date +%s)
restarts=0
for (( at = kill_every; at < duration; at += kill_every )); do
  sleep $(( start + at - $(date +%s) > 0 ? start + at - $(date +%s) : 0 ))
  kill -0 "$load" 2>/dev/null || { note "the load ended early"; break; }
  kill -0 "$sampler" 2>/dev/null || { note "soak: the sampler died (its error is above)"; exit 1; }
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  restarts=$((restarts + 1))
  start_server "$data" "$restarts"
  note "kill -9 #$restarts at ${at}s; restarted (pid $pid), ready in $(wait_ready) s"
done
load_status=0; wait "$load" || load_status=$?; load=""
abuse_status=0; wait "$abuse" || abuse_status=$?; abuse=""
kill -TERM "$sampler"; wait "$sampler" || true; sampler=""
note "load exit $load_status: $(grep '^load: ' "$out/load.log" | tr '\n' ' ')"
note "abuse exit $abuse_status: $(grep '^soak_abuse: ' "$out/abuse.log" | tr '\n' ' ')"

# ---- Phase 3: verify, judge, plot ----
verify_out=$("$bin" load --server "$api" --secret-file "$secret" --verify "$out/truth.txt" --timeout 300s \
  --windows-within "${horizon}s" 2>&1) || true
echo "$verify_out" >"$out/verify.log"
verify_mismatches=$(echo "$verify_out" | sed -n 's/^verify: .*: \([0-9]*\) mismatches$/\1/p')
[ -n "$verify_mismatches" ] && [ "$load_status" -eq 0 ] || verify_mismatches=-1
note "verify: $(echo "$verify_out" | grep '^verify: ' | tr '\n' ' ')"
storm_out=$($python bench/soak_abuse.py --server "$api" --admin-token "$admin" --status "$out/abuse.json" --check 2>&1) || true
echo "$storm_out" >"$out/storm_check.log"
storm_mismatches=$(echo "$storm_out" | sed -n 's/.*checked, \([0-9]*\) mismatches.*/\1/p')
[ -n "$storm_mismatches" ] && [ "$abuse_status" -eq 0 ] || storm_mismatches=-1
note "storm check: $(echo "$storm_out" | tail -1)"
kill -TERM "$pid"; wait "$pid" || true; pid=""

status=0
$python bench/soak_plot.py "$out/soak.csv" --png "$out/soak.png" --every "$every" --warmup "$warmup" \
  --verify-mismatches "$verify_mismatches" --storm-mismatches "$storm_mismatches" \
  --title "soak: ${duration}s at $rate events/s, kill -9 every ${kill_every}s, $(nproc) cores" \
  | tee "$out/summary.txt" || status=1
echo "soak: $out (soak.csv, soak.png, summary.txt, events.log)"
exit $status
