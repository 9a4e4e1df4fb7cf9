#pragma once
// Tests only: runs one of the repository's Python scripts with Debian's
// /usr/bin/python3 (where the independent oracles live: python3-avro,
// scikit-learn) on one file argument, and returns what it printed (stdout
// and stderr together); a non-zero exit fails the calling test. The test
// target defines WATERSHED_SOURCE_DIR.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace watershed::testing {

// `script` relative to the source tree, e.g. "tests/lake/read_iceberg_avro.py".
inline std::string RunPythonScript(const std::string& script, const std::string& path) {
  const std::string cmd =
      "/usr/bin/python3 " + std::string(WATERSHED_SOURCE_DIR) + "/" + script + " '" + path + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && std::fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_EQ(p ? ::pclose(p) : -1, 0) << out;
  return out;
}

}  // namespace watershed::testing
