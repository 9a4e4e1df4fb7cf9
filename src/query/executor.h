#pragma once
// Carries out a LogicalPlan (query/planner.h) on the files it names:
// decodes only the plan's scan columns of each row group it kept
// (ParquetReader::ReadRowGroup), filters them with a selection vector (one
// tight loop per conjunct, the operator chosen once per batch, no per-row
// virtual calls), then hash-aggregates or collects rows, sorts, applies
// OFFSET/LIMIT. A row group is cut into batches of kBatchRows rows;
// expressions (query/expr.h) are evaluated over whole batches.
//
// ANSI NULLs: comparisons with NULL are never true; COUNT(x), SUM, MIN, MAX
// and AVG skip NULLs; SUM/MIN/MAX/AVG of no value are NULL, COUNT is 0; an
// aggregate without GROUP BY gives one row even over no input. SUM over
// BIGINT that overflows int64 is an error (kInvalidArgument), never a wrap.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/file_system.h"
#include "query/planner.h"

namespace watershed::query {

struct ExecStats {
  int64_t files_read = 0, row_groups_read = 0, rows_scanned = 0;
};

struct QueryResult {
  std::vector<std::string> names;
  std::vector<ColumnType> types;
  std::vector<std::vector<Value>> rows;
  ExecStats stats;
};

// Bounds on one query, checked once per batch (all optional). Past
// max_memory_bytes (rows, groups, distinct sets and sort input, estimated):
// kTooLarge "query needs more than N MiB (query-memory)"; cancelled or past
// the deadline: kUnavailable.
struct ExecLimits {
  int64_t max_memory_bytes = 0;  // 0: no limit
  std::optional<std::chrono::steady_clock::time_point> deadline;
  const std::atomic<bool>* cancel = nullptr;  // set by another thread to stop the query
  int threads = 1;
  // Rows per unit of the parallel scan: consecutive row groups (of one file
  // or several) up to this many. The answer depends on it only through the
  // rounding of DOUBLE sums; tests make it small.
  int64_t unit_rows = 128 << 10;  // scan threads (`query-threads`); the answer does not depend on it
};

Result<QueryResult> Execute(const LogicalPlan& plan, FileSystem* fs, const ExecLimits& limits = {});

// Aligned text table (psql-like) and JSON
// {"columns":[{name,type}],"rows":[[...]]}.
std::string FormatTable(const QueryResult& r);
std::string FormatJson(const QueryResult& r);

}  // namespace watershed::query
