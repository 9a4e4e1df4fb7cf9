#pragma once
// The logical plan of a SELECT over one lake table, and its pruning
// (docs/query.md "Planning"). Planning decides what to read and what to
// compute; the executor (query/executor.h) only carries it out — so a
// federating planner (#12) can ship parts of a plan elsewhere.
//
// Supported now: one table or a subquery in FROM, one equi-JOIN; select items, WHERE,
// GROUP BY (expressions, positions, aliases), HAVING and ORDER BY over
// expressions (query/binder.h); aggregates COUNT(*), COUNT([DISTINCT] x),
// approx_count_distinct, SUM, MIN, MAX, AVG of expressions; DISTINCT;
// LIMIT/OFFSET. WHERE's `column op constant` conjuncts are pushed into
// pruning, the others filtered after the scan. Anything else is refused
// with "line:col: ... not supported yet".
//
// Pruning, for each conjunct: a data file is skipped when its partition
// value (hour/day of a timestamp, bucket[N] of an = / IN on the bucketed
// column) or its manifest column bounds exclude every value the conjunct
// accepts; a row group of a file that is read is skipped the same way on
// its Parquet min/max statistics.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "query/catalog.h"
#include "query/expr.h"
#include "query/value.h"

namespace watershed::query {

enum class PredOp { kEq, kNe, kLt, kLe, kGt, kGe, kBetween, kIn, kIsNull };
struct Predicate {
  int column = 0;  // index into LogicalPlan::scan_columns
  PredOp op = PredOp::kEq;
  bool negated = false;       // NOT BETWEEN / NOT IN / IS NOT NULL
  std::vector<Value> values;  // 1 for comparisons, 2 for BETWEEN, n for IN (no
                              // NULLs: planned away)
  std::string text;           // the conjunct as SQL, for EXPLAIN
};

// kHllSketch: hll_sketch(x), x's HyperLogLog sketch as text (HyperLogLog::Serialize); kHllMerge: hll_merge(s),
// the estimate of the union of VARCHAR sketches — a global query's distinct counts across regions.
enum class AggKind {
  kCountStar,
  kCount,
  kSum,
  kMin,
  kMax,
  kAvg,
  kCountDistinct,
  kApproxDistinct,
  kHllSketch,
  kHllMerge
};
struct Aggregate {
  AggKind kind = AggKind::kCountStar;
  BoundExpr arg;                          // over the scan's columns; unused for COUNT(*)
  ColumnType type = ColumnType::kBigint;  // of the result
  std::string text;                       // "sum(watch_ms)"
};

// A result column. In a plan without aggregation its expression reads the
// scan's columns; with aggregation it reads the aggregation's output: the
// group keys, then the aggregates (columns 0..K-1, K..K+A-1).
struct OutputColumn {
  std::string name;
  ColumnType type = ColumnType::kBigint;
  BoundExpr expr;
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
  std::vector<int64_t> rows;  // of each of those row groups
};

struct PruneStats {
  int64_t files_considered = 0, files_read = 0;
  int64_t row_groups_considered = 0, row_groups_read = 0;  // of the files read
};

struct LogicalPlan;

// `[INNER|LEFT] JOIN right ON left_expr = right_expr`: the build side's
// rows (the right table; for INNER the smaller one) are read first (its own
// plan: the columns the query needs, then the key) into a hash table; each
// batch of the other table's scan is joined against it. In the joined batch
// the build side's columns follow the scan's.
struct JoinPlan {
  bool left = false;                   // LEFT JOIN: a left row without a match gets NULLs
  std::shared_ptr<LogicalPlan> build;  // outputs: the right columns, then the key
  BoundExpr probe_key;                 // over the left scan's columns
  size_t build_columns = 0;
  std::string text;  // for EXPLAIN
};

struct LogicalPlan {
  CatalogTable table;                           // for a subquery in FROM: its alias and output columns
  std::shared_ptr<const LogicalPlan> subquery;  // FROM (subquery): run first, its rows scanned
  // Rows given by the caller instead of running `subquery` (then an empty placeholder): the federated planner's
  // merged partial results (query/federation.h), in table.columns' order.
  std::shared_ptr<const std::vector<std::vector<Value>>> given_rows;
  bool no_from = false;                         // SELECT without FROM: one row of no columns
  std::optional<JoinPlan> join;

  std::vector<int> scan_columns;      // catalog column indices, the only ones decoded
  std::vector<Predicate> filters;     // pushed into pruning, applied first
  std::vector<BoundExpr> residual;    // the other WHERE conjuncts, over the scan's columns, after
  bool always_empty = false;          // WHERE can never be true (a comparison with NULL)
  bool aggregate = false;             // GROUP BY or an aggregate present
  std::vector<BoundExpr> group_keys;  // over the scan's columns
  std::vector<Aggregate> aggregates;
  std::optional<BoundExpr> having;    // over the aggregation's output
  std::vector<OutputColumn> outputs;  // the first `visible` are the result; the rest only sort
  size_t visible = 0;
  bool distinct = false;   // SELECT DISTINCT
  int64_t now_micros = 0;  // now(), fixed once per query
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
// A SELECT over rows held in memory (`columns` name and type them; FROM's alias names the table): the federated
// planner's merge step, planned like a subquery's outer query.
Result<LogicalPlan> PlanOverRows(const Select& select, std::vector<CatalogColumn> columns,
                                 std::shared_ptr<const std::vector<std::vector<Value>>> rows);
// The plan as text, one operator per line, then the pruning counters.
std::string Explain(const LogicalPlan& plan);

}  // namespace watershed::query
