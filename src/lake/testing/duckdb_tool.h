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

// Runs the tool; *exit_status gets pclose's status.
inline std::vector<std::string> RunDuckDbStatus(const std::string& sql, int* exit_status) {
  const std::string tool = std::string(WATERSHED_SOURCE_DIR) + "/tools/duckdb/query.mjs";
  std::string quoted = "'";
  for (char c : sql) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  FILE* p = ::popen(("node " + tool + " " + quoted + " 2>&1").c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::vector<std::string> lines;
  *exit_status = -1;
  if (!p) return lines;
  char buf[65536];
  while (std::fgets(buf, sizeof buf, p)) {
    std::string line(buf);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    lines.push_back(line);
  }
  *exit_status = ::pclose(p);
  return lines;
}

inline std::vector<std::string> RunDuckDb(const std::string& sql) {
  int status = 0;
  std::vector<std::string> lines = RunDuckDbStatus(sql, &status);
  EXPECT_EQ(status, 0) << "duckdb failed: " << (lines.empty() ? "" : lines.back())
                       << " (is tools/duckdb installed? scripts/install-deps.sh)";
  return lines;
}

// The output (the error) of SQL that must fail ("" and a test failure when
// it succeeds).
inline std::string DuckDbError(const std::string& sql) {
  int status = 0;
  std::vector<std::string> lines = RunDuckDbStatus(sql, &status);
  EXPECT_NE(status, 0) << "duckdb succeeded: " << (lines.empty() ? "" : lines.back());
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return status == 0 ? std::string() : out;
}

}  // namespace watershed::lake::testing
