#pragma once
// One SQL statement end to end: parse, plan, execute (or EXPLAIN). What the
// CLI (`watershed sql`) and tests call.

#include <string>
#include <string_view>

#include "query/catalog.h"
#include "query/executor.h"

namespace watershed::query {

struct SqlOutput {
  bool explain = false;
  std::string plan_text;  // EXPLAIN's text
  QueryResult result;     // SELECT's rows
};

// kInvalidArgument "line:col: ..." for a bad or unsupported query.
// `limits` bound a SELECT's memory and time (executor.h).
Result<SqlOutput> RunSql(std::string_view sql, const Catalog& catalog, const ExecLimits& limits = {});

}  // namespace watershed::query
