#pragma once
// The logical plan of a SELECT over one lake table, and its pruning
// (docs/query.md "Planning"). Planning decides what to read and what to
// compute; the executor (query/executor.h) only carries it out — so a
// federating planner (#12) can ship parts of a plan elsewhere.
//
// Supported now: one table (no JOIN, no subquery), select items that are
// columns, `*`, or aggregates COUNT(*)/COUNT(c)/SUM/MIN/MAX/AVG of a column;
// WHERE as an AND of `column op literal` (=, <>, <, <=, >, >=, BETWEEN, IN,
// IS [NOT] NULL, NOT of the last three); GROUP BY columns; ORDER BY output
// columns (by name, alias or ordinal); LIMIT/OFFSET. Anything else is
// refused with "line:col: ... not supported yet".
//
// Pruning, for each conjunct: a data file is skipped when its partition
// value (hour/day of a timestamp, bucket[N] of an = / IN on the bucketed
// column) or its manifest column bounds exclude every value the conjunct
// accepts; a row group of a file that is read is skipped the same way on
// its Parquet min/max statistics.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "query/catalog.h"

namespace watershed::query {

// A literal or a value read from a column: ints for BIGINT and TIMESTAMP
// (micros), `s` for strings and uuids (16 raw bytes), `d` for DOUBLE.
struct Value {
  bool null = false;
  int64_t i = 0;
  double d = 0;
  std::string s;
};

enum class PredOp { kEq, kNe, kLt, kLe, kGt, kGe, kBetween, kIn, kIsNull };
struct Predicate {
  int column = 0;  // index into LogicalPlan::scan_columns
  PredOp op = PredOp::kEq;
  bool negated = false;       // NOT BETWEEN / NOT IN / IS NOT NULL
  std::vector<Value> values;  // 1 for comparisons, 2 for BETWEEN, n for IN (no
                              // NULLs: planned away)
  std::string text;           // the conjunct as SQL, for EXPLAIN
};

enum class AggKind { kCountStar, kCount, kSum, kMin, kMax, kAvg };
struct Aggregate {
  AggKind kind = AggKind::kCountStar;
  int column = -1;  // index into scan_columns; -1 for COUNT(*)
};

struct OutputColumn {
  std::string name;
  ColumnType type = ColumnType::kBigint;
  // aggregate: index into aggregates; else into group_keys in an aggregate
  // plan, into scan_columns otherwise.
  bool aggregate = false;
  int index = 0;
};

struct SortKey {
  int output = 0;
  bool descending = false;
  bool nulls_first = false;  // default: NULLS LAST ascending, FIRST descending (as PostgreSQL)
};

// One data file to read and which of its row groups.
struct FileScan {
  std::string path;
  std::vector<int> row_groups;
};

struct PruneStats {
  int64_t files_considered = 0, files_read = 0;
  int64_t row_groups_considered = 0, row_groups_read = 0;  // of the files read
};

struct LogicalPlan {
  CatalogTable table;
  std::vector<int> scan_columns;  // catalog column indices, the only ones decoded
  std::vector<Predicate> filters;
  bool always_empty = false;    // WHERE can never be true (a comparison with NULL)
  bool aggregate = false;       // GROUP BY or an aggregate present
  std::vector<int> group_keys;  // indices into scan_columns
  std::vector<Aggregate> aggregates;
  std::vector<OutputColumn> outputs;
  std::vector<SortKey> order_by;
  std::optional<int64_t> limit;
  int64_t offset = 0;
  std::vector<FileScan> files;
  PruneStats stats;
};

// Fills plan->files and plan->stats from the table's current snapshot
// (query/pruning.cc).
Status PruneFiles(FileSystem* fs, LogicalPlan* plan);

// kInvalidArgument "line:col: ..." for unknown tables/columns, type errors
// and what is not supported yet; file errors as they come.
Result<LogicalPlan> PlanSelect(const Select& select, const Catalog& catalog);
// The plan as text, one operator per line, then the pruning counters.
std::string Explain(const LogicalPlan& plan);

}  // namespace watershed::query
