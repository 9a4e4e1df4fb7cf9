// Watershed's side of the SQL benchmark (bench/run_sql.sh): runs queries
// in process through query::RunSql on a lake (sql_bench_lake writes one),
// warm: one untimed run, then --runs timed runs; prints per query one line
//   name=Q1 threads=T median_ms=M min_ms=m rows_scanned=R rows=N
// and with --print the answer as JSON lines (run_sql.sh compares it with
// DuckDB's). --rss adds the process's peak resident set (ru_maxrss) after
// the last query: run one query per process to read its peak memory.
//
// usage: sql_bench --root DIR --queries FILE [--region us] [--runs 5] [--threads 1] [--print] [--rss]
// FILE: one query per line, `NAME<TAB>SQL`; lines starting with # are skipped.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/file_system.h"
#include "query/run.h"

namespace watershed {
namespace {

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "sql_bench: %s\n", msg.c_str());
  std::exit(2);
}

int Main(int argc, char** argv) {
  std::string root, queries;
  Region region = Region::kUs;
  int runs = 5, threads = 1;
  bool print = false, rss = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--print") {
      print = true;
      continue;
    }
    if (a == "--rss") {
      rss = true;
      continue;
    }
    if (i + 1 >= argc) Die("flag " + a + " needs a value");
    const std::string v = argv[++i];
    if (a == "--root") {
      root = v;
    } else if (a == "--queries") {
      queries = v;
    } else if (a == "--runs") {
      runs = std::max(1, std::atoi(v.c_str()));
    } else if (a == "--threads") {
      threads = std::max(1, std::atoi(v.c_str()));
    } else if (a == "--region") {
      auto r = ParseRegion(v);
      if (!r) Die("--region: us, eu or apac");
      region = *r;
    } else {
      Die("unknown flag " + a);
    }
  }
  if (root.empty() || queries.empty()) Die("usage: sql_bench --root DIR --queries FILE [--runs N] [--threads T]");
  std::ifstream in(queries);
  if (!in) Die("cannot read " + queries);
  query::Catalog catalog(FileSystem::Default(), root, region);
  query::ExecLimits limits;
  limits.threads = threads;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) Die("a query line is NAME<TAB>SQL: " + line);
    const std::string name = line.substr(0, tab), sql = line.substr(tab + 1);
    std::vector<double> ms;
    query::SqlOutput last;
    for (int r = 0; r <= runs; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      auto out = query::RunSql(sql, catalog, limits);
      const auto t1 = std::chrono::steady_clock::now();
      if (!out.ok()) Die(name + ": " + out.status().ToString());
      if (r > 0) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());  // run 0 warms up
      last = std::move(*out);
    }
    std::sort(ms.begin(), ms.end());
    std::printf("name=%s threads=%d median_ms=%.2f min_ms=%.2f rows_scanned=%lld rows=%zu\n", name.c_str(), threads,
                ms[ms.size() / 2], ms[0], static_cast<long long>(last.result.stats.rows_scanned),
                last.result.rows.size());
    if (print) std::fputs(query::FormatJson(last.result).c_str(), stdout);
  }
  if (rss) {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    std::printf("peak_rss_kb=%ld\n", u.ru_maxrss);
  }
  return 0;
}

}  // namespace
}  // namespace watershed

int main(int argc, char** argv) { return watershed::Main(argc, argv); }
