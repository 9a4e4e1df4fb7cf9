#pragma once
// Tests only: Debian's python3-avro (an Avro implementation independent of
// ours) reading an Avro file through tests/lake/read_iceberg_avro.py.

#include <string>

#include "core/testing/python_script.h"

namespace watershed::lake::testing {

// The script's JSON document (meta, field_ids, records); a failure of the
// script fails the calling test.
inline std::string PythonRead(const std::string& path) {
  return watershed::testing::RunPythonScript("tests/lake/read_iceberg_avro.py", path);
}

}  // namespace watershed::lake::testing
