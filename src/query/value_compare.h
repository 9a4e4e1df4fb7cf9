#pragma once
// Values of the lake's column types: ordering, the pruning test on a
// [min, max] range, text forms. Shared by the planner and the executor so
// that pruning and filtering agree on what "x < v" means.

#include <optional>
#include <string>
#include <string_view>

#include "query/catalog.h"
#include "query/planner.h"

namespace watershed::query {

// <0, 0, >0 for two non-NULL values of type t (strings and uuids by
// unsigned bytes, as Parquet and Iceberg order them).
int CompareValues(const Value& a, const Value& b, ColumnType t);
// Whether some value in [lo, hi] may satisfy p (conservative: true when
// unsure).
bool MayMatch(const Predicate& p, ColumnType t, const Value& lo, const Value& hi);
// "0f1e..." with or without dashes, 32 hex digits -> 16 bytes.
std::optional<std::string> ParseUuidText(std::string_view text);
// Text of a value: timestamps as "YYYY-MM-DD HH:MM:SS[.ffffff]" UTC, uuids
// as 8-4-4-4-12 hex, NULL as "NULL".
std::string FormatValue(const Value& v, ColumnType t);

}  // namespace watershed::query
