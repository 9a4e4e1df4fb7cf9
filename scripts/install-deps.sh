#!/usr/bin/env bash
# Installs the Debian packages Watershed needs to build, test and benchmark,
# and the npm packages of tools/duckdb (DuckDB reads our Parquet files in
# tests) and tools/browser (puppeteer-core drives Chromium in the dashboard
# test). Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  cmake ninja-build g++ clang libclang-rt-14-dev   # toolchain; clang for libFuzzer
  libboost-dev libsimdjson-dev                      # Beast/Asio, JSON
  libssl-dev openssl                                # JWT signatures, TLS; test certificates
  protobuf-compiler                                 # tests: protoc --encode, an independent protobuf encoder
  librdkafka-dev libhiredis-dev pkg-config          # Kafka log, Redis live store (issue #4)
  kcat                                              # inspecting Kafka in tests and by hand
  libzstd-dev libsnappy-dev                         # Parquet page compression (issue #5)
  libedit-dev                                       # `watershed sql` shell: line editing, history (BSD licence)
  python3 python3-avro                              # tests: an independent reader of our Avro manifests
  libhnswlib-dev                                    # recommendations: HNSW nearest-neighbour index of item embeddings (issue #15)
  python3-sklearn                                   # tests: scikit-learn, an independent oracle of the recs metrics (AUC, NDCG)
  python3-scipy                                     # tests: SciPy, the oracle of the A/B statistics (Welch t, chi-square)
  python3-matplotlib                                # bench/soak_plot.py: the soak's plot (and its CTest)
  postgresql libpq-dev                              # CDC from PostgreSQL (issue #17): libpq; a server for tests
  libgtest-dev libgmock-dev libbenchmark-dev        # tests, benchmarks
  redis-server redis-tools                          # benchmark reference (redis-benchmark)
  prometheus                                        # promtool (alert rules, metrics lint) and a server for the scrape test (issue #16)
  curl procps iproute2                              # demo and crash scripts
  nodejs                                            # tools/duckdb (npm @duckdb/node-api), tools/browser
  chromium                                          # the dashboard test's headless browser (tests/dashboard_e2e.sh, issue #16)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's nodejs comes without npm (NodeSource's includes it).
command -v npm >/dev/null 2>&1 || "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends npm

# tools/duckdb: the versions package-lock.json pins, from the npm registry.
# Skipped when the installed versions equal the locked ones and the native
# binding loads.
root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duckdb_dir="$root_dir/tools/duckdb"
if (cd "$duckdb_dir" && node -e '
    const fs = require("fs");
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages;
    for (const p of ["@duckdb/node-api", "@duckdb/node-bindings"]) {
      const f = "node_modules/" + p + "/package.json";
      if (!fs.existsSync(f) || JSON.parse(fs.readFileSync(f, "utf8")).version !== lock["node_modules/" + p].version)
        process.exit(1);
    }
    require("@duckdb/node-api");' 2>/dev/null); then
  echo "install-deps: tools/duckdb present"
else
  echo "install-deps: npm ci in tools/duckdb"
  (cd "$duckdb_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

# tools/browser: puppeteer-core at the version package-lock.json pins (it
# drives Debian's chromium; it downloads no browser). Skipped when installed
# at that version.
browser_dir="$root_dir/tools/browser"
if (cd "$browser_dir" && node -e '
    const fs = require("fs");
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages;
    const f = "node_modules/puppeteer-core/package.json";
    if (!fs.existsSync(f) || JSON.parse(fs.readFileSync(f, "utf8")).version !== lock["node_modules/puppeteer-core"].version)
      process.exit(1);' 2>/dev/null); then
  echo "install-deps: tools/browser present"
else
  echo "install-deps: npm ci in tools/browser"
  (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
