#pragma once
// The inputs of the lake query endpoints (docs/api.md), parsed and bounded
// before any lake file is opened: the JSON body of POST /v1/query and the
// query string of GET /v1/stories/{id}/history. Pure functions (fuzzed:
// fuzz/query_request_fuzz.cc).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace watershed::gateway {

// The value of `key` in an application/x-www-form-urlencoded query string,
// as sent (not decoded); nullopt when absent.
std::optional<std::string_view> QueryParam(std::string_view query, std::string_view key);

struct QueryRequestLimits {
  size_t max_sql_bytes = 64 << 10;  // below the lexer's own 1 MiB limit
  int64_t default_rows = 1'000;     // max_rows when the body names none
  int64_t max_rows = 100'000;       // the most a body may ask for
};

struct QueryRequest {
  std::string sql;
  int64_t max_rows = 0;
};

// {"sql": "...", "max_rows": N}; other members are refused (a typo must not
// silently mean the default). kInvalidArgument for a body that is not that
// (the message says which member and why); kTooLarge for an sql longer than
// max_sql_bytes.
Result<QueryRequest> ParseQueryRequest(std::string_view body, const QueryRequestLimits& limits);

enum class Granularity { kMinute, kHour, kDay };
const char* GranularityName(Granularity g);
// The bucket width in microseconds.
int64_t GranularityMicros(Granularity g);

struct HistoryRequest {
  int64_t from_us = 0, to_us = 0;  // [from, to), UTC micros, both multiples of the granularity
  Granularity granularity = Granularity::kHour;
};

// The longest range each granularity may ask for: minute 31 days, hour 92
// days, day 400 days (the points of one answer stay ≤ 44,640).
int64_t MaxHistoryRangeMicros(Granularity g);

// from=, to= (ISO-8601 UTC: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.ffffff][Z];
// percent-encoding allowed), granularity=minute|hour|day (default hour).
// Defaults: to = now, from = to - 24 h. `from` is rounded down and `to` up
// to the granularity. kInvalidArgument naming the parameter for a bad value,
// from ≥ to, or a range over MaxHistoryRangeMicros.
Result<HistoryRequest> ParseHistoryRequest(std::string_view query, int64_t now_ms);

}  // namespace watershed::gateway
