#!/usr/bin/env bash
# SQL over the lake vs DuckDB (issue #11, bench/RESULTS.md "SQL over the
# lake"): writes the benchmark lake with bench/sql_bench_lake (kept in LAKE,
# reused when it is there), then times the six queries of
# bench/sql_queries.tsv in process with Watershed's engine (bench/sql_bench)
# and with DuckDB (bench/sql_duckdb_bench.mjs, read_parquet of the same
# files), each with 1 and 2 threads, warm, median of RUNS. Checks that both
# engines give the same rows, and measures Q3's peak resident memory in a
# process of its own. Prints a Markdown table: ms, DuckDB ms / ours (above
# 1: we are faster), and rows/s per thread (the rows the engine scanned
# after pruning / time / threads; DuckDB's column uses our count).
#
# usage: bench/run_sql.sh [BUILD_DIR (build/release)] [EVENTS (10000000)] [LAKE (/tmp/watershed-sql-lake-EVENTS)] [RUNS (5)]
# QUERIES="Q1 Q2" in the environment runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
events="${2:-10000000}"
lake="${3:-/tmp/watershed-sql-lake-$events}"
runs="${4:-5}"
work="$(mktemp -d /tmp/watershed-sql-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
queries="$work/queries.tsv"
wanted="${QUERIES:-Q1 Q2 Q3 Q4 Q5 Q6}"
for q in $wanted; do grep "^$q	" bench/sql_queries.tsv; done >"$queries"

echo "# sql bench: $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD) nproc=$(nproc)" \
     "cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\" events=$events lake=$lake"
if [ ! -d "$lake/us/events" ]; then
  "$build/bench/sql_bench_lake" --root "$lake" --events "$events"
fi
echo "# lake: $(find "$lake/us/events/data" -name '*.parquet' | wc -l) events files," \
     "$(du -sh "$lake/us/events/data" | cut -f1)"

for t in 1 2; do
  "$build/bench/sql_bench" --root "$lake" --queries "$queries" --runs "$runs" --threads "$t" --print >"$work/ours$t"
  node bench/sql_duckdb_bench.mjs --lake "$lake/us" --queries "$queries" --runs "$runs" --threads "$t" --print \
    >"$work/duck$t"
  grep '^name=' "$work/ours$t" | sed 's/^/ours /'
  grep '^name=' "$work/duck$t" | sed 's/^/duck /'
done
# Same answers: ours (JSON documents) against DuckDB's (one array per query).
python3 - "$work/ours1" "$work/duck1" "$work/ours2" "$wanted" <<'EOF'
import datetime, json, sys
def ours(path):
    out = []
    for line in open(path):
        if line.startswith('{'):
            out.append(json.loads(line)['rows'])
    return out
def duck(path):
    return [json.loads(l) for l in open(path) if l.startswith('[')]
def micros(c):  # our timestamps are text (UTC), DuckDB's microseconds
    if isinstance(c, str) and len(c) >= 19 and c[4] == '-' and c[10] == ' ':
        d = datetime.datetime.fromisoformat(c).replace(tzinfo=datetime.timezone.utc)
        return int(d.timestamp()) * 1000000 + d.microsecond
    return c
def norm(rows):
    return [[micros(c) for c in r] for r in rows]
o1, d1, o2 = ours(sys.argv[1]), duck(sys.argv[2]), ours(sys.argv[3])
for name, a, b, a2 in zip(sys.argv[4].split(), o1, d1, o2):
    same = norm(a) == norm(b)
    print(f"# {name}: {len(a)} rows, same as DuckDB: {same}, same with 2 threads: {a == a2}")
    if not same:
        print("#   ours ", a[:3], "\n#   duck ", b[:3])
EOF

rss_ours=$("$build/bench/sql_bench" --root "$lake" --queries <(grep '^Q3' bench/sql_queries.tsv) --runs 1 --threads 2 --rss |
  sed -n 's/peak_rss_kb=//p')
rss_duck=$(node bench/sql_duckdb_bench.mjs --lake "$lake/us" --queries bench/sql_queries.tsv --only Q3 --runs 1 --threads 2 --rss |
  sed -n 's/peak_rss_kb=//p')
rss_node=$(node -e 'console.log(process.resourceUsage().maxRSS)')
echo "# Q3 peak RSS (2 threads, own process): watershed $((rss_ours / 1024)) MiB," \
     "DuckDB $((rss_duck / 1024)) MiB (node alone: $((rss_node / 1024)) MiB)"

field() { sed -n "s/.*name=$1 .*$2=\([0-9.]*\).*/\1/p" "$3"; }
echo
echo "| query | threads | watershed ms | DuckDB ms | DuckDB/ours | watershed rows/s/thread | DuckDB rows/s/thread | rows scanned |"
echo "|---|---|---|---|---|---|---|---|"
for q in $wanted; do
  for t in 1 2; do
    o=$(field $q median_ms "$work/ours$t"); d=$(field $q median_ms "$work/duck$t"); n=$(field $q rows_scanned "$work/ours$t")
    awk -v q=$q -v t=$t -v o="$o" -v d="$d" -v n="$n" 'BEGIN {
      printf "| %s | %d | %.1f | %.1f | %.2f | %.1f M | %.1f M | %d |\n", q, t, o, d, d / o, n / (o / 1000) / t / 1e6,
             n / (d / 1000) / t / 1e6, n }'
  done
done
