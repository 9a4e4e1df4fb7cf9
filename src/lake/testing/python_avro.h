#pragma once
// Tests only: Debian's python3-avro (an Avro implementation independent of
// ours) reading an Avro file through tests/lake/read_iceberg_avro.py.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace watershed::lake::testing {

// The script's JSON document (meta, field_ids, records); a failure of the
// script fails the calling test.
inline std::string PythonRead(const std::string& path) {
  const std::string cmd =
      "/usr/bin/python3 " + std::string(WATERSHED_SOURCE_DIR) + "/tests/lake/read_iceberg_avro.py '" + path + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && std::fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_EQ(p ? ::pclose(p) : -1, 0) << out;
  return out;
}

}  // namespace watershed::lake::testing
