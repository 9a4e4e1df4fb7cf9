#pragma once
// The text inside SQL's typed literals, checked at parse time so a bad one
// is an error with its position, and converted for later stages. Times are
// UTC, in microseconds since the Unix epoch (Iceberg's timestamp unit).

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace watershed::query {

// 'YYYY-MM-DD' (date_only), or 'YYYY-MM-DD[ |T]HH:MM:SS[.f{1,6}][Z]', years 1..9999.
Result<int64_t> TimestampMicros(std::string_view text, bool date_only);

// One or more "<n> <unit>" pairs: '7 days', '1 hour 30 minutes'; units
// microsecond, millisecond, second, minute, hour, day, week (singular or
// plural, any case). Months and years have no fixed length and are refused.
Result<int64_t> IntervalMicros(std::string_view text);

// The parser's form of the two: "" when fine, else the problem.
std::string CheckTimestampText(std::string_view text, bool date_only);
std::string CheckIntervalText(std::string_view text);

// A CAST target's canonical name ("int" -> "INTEGER"), "" if unknown.
std::string CanonicalType(std::string_view lower);

}  // namespace watershed::query
