#!/usr/bin/env bash
# Parquet writing and reading (issue #5's benchmark): our writer and reader
# (bench/lake_bench) and DuckDB (bench/lake_duckdb_bench.mjs, npm
# @duckdb/node-api from tools/duckdb) on the same rows: EVENTS events of the
# standard workload sorted by story_id, event_time. Each run: lake_bench
# generates the rows, writes them with our writer (zstd level 3; timed), scans
# story_id fully and with a story_id range pruned by row-group statistics;
# then DuckDB loads that file into a table (not timed), COPYs it to Parquet
# (zstd) with threads=1 and threads=2, and runs the same two scans over our
# file and its own. RUNS runs, alternating. Prints every line, then medians.
# Wall times move a lot on the shared 2-core VM; CPU seconds per million rows
# (getrusage / process.cpuUsage) are the steadier per-core figure.
# Builds nothing: build lake_bench first (cmake --build BUILD_DIR --target lake_bench).
# usage: bench/run_lake.sh [BUILD_DIR (build/release)] [EVENTS (10000000)] [RUNS (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
events="${2:-10000000}"
runs="${3:-3}"
lo="${LAKE_LO:-100}"
hi="${LAKE_HI:-119}"
bin="$(realpath "$build/bench/lake_bench")"
work="$(mktemp -d /tmp/watershed-lake.XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "# lake: $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD) nproc=$(nproc)" \
  "cpu=\"$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)\"; $events events per run, $runs runs," \
  "story_id in [$lo, $hi]"
echo "# ours: $bin --events $events --out $work --codec zstd --lo $lo --hi $hi"
echo "# duckdb: node bench/lake_duckdb_bench.mjs --ours $work/ours.parquet --out $work --lo $lo --hi $hi"
for i in $(seq "$runs"); do
  "$bin" --events "$events" --out "$work" --codec zstd --lo "$lo" --hi "$hi" | sed "s/^/run=$i /"
  node bench/lake_duckdb_bench.mjs --ours "$work/ours.parquet" --out "$work" --lo "$lo" --hi "$hi" |
    sed "s/^/run=$i /"
  rm -f "$work"/*.parquet
done | tee "$work/lines"

# Medians over the runs: field F of lines whose words match all patterns.
median() {  # FIELD PATTERN...
  local field=$1; shift
  awk -v f="$field" -v pats="$*" '
    BEGIN { np = split(pats, p, " ") }
    { for (i = 1; i <= np; i++) if (index(" " $0 " ", " " p[i] " ") == 0) next
      for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2 && kv[1] == f) print kv[2] }' "$work/lines" |
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }

o_cpu=$(median cpu_per_m_rows write); o_rps=$(median rows_per_s write); o_mb=$(median mb_per_s write)
o_mbc=$(median mb_per_cpu_s write); o_size=$(median file_bytes write); o_sync=$(median sync_seconds write)
d1_cpu=$(median cpu_per_m_rows duck_write threads=1); d1_rps=$(median rows_per_s duck_write threads=1)
d2_cpu=$(median cpu_per_m_rows duck_write threads=2); d2_rps=$(median rows_per_s duck_write threads=2)
d_size=$(median file_bytes duck_write threads=1)
echo "# medians over $runs runs"
echo "summary write ours rows_per_s=$o_rps mb_per_s=$o_mb cpu_per_m_rows=$o_cpu mb_per_cpu_s=$o_mbc" \
  "sync_seconds=$o_sync file_bytes=$o_size"
echo "summary write duckdb threads=1 rows_per_s=$d1_rps cpu_per_m_rows=$d1_cpu file_bytes=$d_size"
echo "summary write duckdb threads=2 rows_per_s=$d2_rps cpu_per_m_rows=$d2_cpu"
echo "summary write ratio ours/duckdb(threads=1): rows_per_cpu_s=$(ratio "$d1_cpu" "$o_cpu")" \
  "rows_per_s=$(ratio "$o_rps" "$d1_rps") file_bytes=$(ratio "$o_size" "$d_size")"
echo "summary full ours seconds=$(median seconds full) rows_per_s=$(median rows_per_s full)" \
  "| duckdb threads=1 on ours seconds=$(median seconds duck_full file=ours threads=1)" \
  "on its file seconds=$(median seconds duck_full file=duckdb threads=1)" \
  "| threads=2 on ours seconds=$(median seconds duck_full file=ours threads=2)" \
  "on its file seconds=$(median seconds duck_full file=duckdb threads=2)"
echo "summary filter ours seconds=$(median seconds filter) row_groups_read=$(median row_groups_read filter)" \
  "of $(median row_groups_total filter) (with matches $(median row_groups_with_matches filter))" \
  "| duckdb threads=1 on ours seconds=$(median seconds duck_filter file=ours threads=1)" \
  "on its file seconds=$(median seconds duck_filter file=duckdb threads=1)" \
  "row_groups_overlapping=$(median row_groups_overlapping duck_filter file=duckdb threads=1)" \
  "of $(median row_groups_total duck_filter file=duckdb threads=1)"
