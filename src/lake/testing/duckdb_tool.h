#pragma once
// Tests only: runs SQL through DuckDB (tools/duckdb/query.mjs, npm
// @duckdb/node-api installed by scripts/install-deps.sh) and returns its
// output lines (one JSON object per result row). The including test target
// defines WATERSHED_SOURCE_DIR. A failing run fails the test.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace watershed::lake::testing {

inline std::vector<std::string> RunDuckDb(const std::string& sql) {
  const std::string tool = std::string(WATERSHED_SOURCE_DIR) + "/tools/duckdb/query.mjs";
  std::string quoted = "'";
  for (char c : sql) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  FILE* p = ::popen(("node " + tool + " " + quoted + " 2>&1").c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::vector<std::string> lines;
  if (!p) return lines;
  char buf[65536];
  while (std::fgets(buf, sizeof buf, p)) {
    std::string line(buf);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    lines.push_back(line);
  }
  EXPECT_EQ(::pclose(p), 0) << "duckdb failed: " << (lines.empty() ? "" : lines.back())
                            << " (is tools/duckdb installed? scripts/install-deps.sh)";
  return lines;
}

}  // namespace watershed::lake::testing
