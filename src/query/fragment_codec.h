#pragma once
// The wire format of a global query's fragments between regions (POST /v1/query/fragment, docs/query.md
// "Global queries"): compact JSON, bounded on both sides.
//
//   request:  {"sql": "SELECT ... FROM eu.events ...", "coordinator": "us", "caller": "us", "explain": false}
//             ("caller" optional: the asking user's region)
//   answer:   {"columns": [{"name": "_g0", "type": "VARCHAR"}, ...], "rows": [["view", 42], ...]}
//             {"estimated_rows": N} for explain
//
// Values: BIGINT, TIMESTAMP (µs) and BOOLEAN (0/1) as integers; DOUBLE as a number ("nan", "inf", "-inf" as
// strings); VARCHAR as a string; UUID as 32 hex digits; NULL as null.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/status.h"
#include "query/executor.h"

namespace watershed::query {

struct FragmentRequest {
  std::string sql;
  Region coordinator = Region::kUs;
  // The region of the user who asked the coordinator (their token's), when known: the answer reaches them too.
  std::optional<Region> caller;
  bool explain = false;
};

struct FragmentLimits {
  size_t max_sql_bytes = 64 << 10;
  size_t max_columns = 256;
  size_t max_rows = 100'000;
  size_t max_body_bytes = 16 << 20;
};

std::string EncodeFragmentRequest(const FragmentRequest& r);
// kInvalidArgument for anything but the request's shape; kTooLarge past the limits.
Result<FragmentRequest> DecodeFragmentRequest(std::string_view body, const FragmentLimits& limits = {});

std::string EncodeFragmentResult(const QueryResult& r);
// kInvalidArgument for a malformed answer (a value of the wrong kind for its column's type included); kTooLarge
// past the limits.
Result<QueryResult> DecodeFragmentResult(std::string_view body, const FragmentLimits& limits = {});

std::string EncodeFragmentEstimate(int64_t rows);
Result<int64_t> DecodeFragmentEstimate(std::string_view body);

// The message of an error answer ({"error": {"code": ..., "message": ...}}); nullopt for anything else.
std::optional<std::string> DecodeFragmentErrorMessage(std::string_view body);

// "BIGINT" -> kBigint ... (TypeName's inverse); nullopt for another name.
std::optional<ColumnType> ParseTypeName(std::string_view name);

}  // namespace watershed::query
