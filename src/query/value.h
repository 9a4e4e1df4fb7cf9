#pragma once
// One value of any SQL type the engine handles (query/catalog.h ColumnType).

#include <cstdint>
#include <string>

namespace watershed::query {

// A literal or a value read from a column: `i` for BIGINT, TIMESTAMP and
// INTERVAL (micros) and BOOLEAN (0/1), `s` for strings and uuids (16 raw
// bytes), `d` for DOUBLE.
struct Value {
  bool null = false;
  int64_t i = 0;
  double d = 0;
  std::string s;
};

}  // namespace watershed::query
