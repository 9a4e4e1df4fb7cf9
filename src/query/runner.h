#pragma once
// The executor's per-scan state (query/executor.h, internal): filters a
// decoded row group's batches, joins them, then hash-aggregates them or
// collects projected rows. The parallel scan gives each unit of work (a
// file, or some of its row groups) a Runner of its own; the units' Runners
// are merged into the query's in unit order, so the answer — group order,
// ties of ORDER BY, DOUBLE sums — is the same whatever the thread count.
//
// ORDER BY ... LIMIT k (without DISTINCT) keeps only the best k+OFFSET rows
// in a bounded heap (top-N), in every Runner. Each collected row carries,
// after its outputs, a sequence number (unit << 32 | row within the unit)
// that breaks ORDER BY's ties as a stable sort of the scan order would.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lake/parquet.h"
#include "query/executor.h"
#include "query/expr.h"
#include "query/flat_table.h"
#include "query/hll.h"

namespace watershed::query {

// One decoded column of a row group. idx maps a row to its value (-1:
// NULL) for a column with NULLs; empty otherwise (row i is value i).
struct ColumnVector {
  const lake::ColumnSpec* spec = nullptr;
  const lake::ColumnValues* v = nullptr;
  ColumnType type = ColumnType::kBigint;
  std::vector<int32_t> idx;

  bool IsNull(uint32_t r) const { return !idx.empty() && idx[r] < 0; }
  size_t Pos(uint32_t r) const { return idx.empty() ? r : static_cast<size_t>(idx[r]); }
  int64_t Int(uint32_t r) const { return v->ints[Pos(r)]; }
  double Dbl(uint32_t r) const { return v->doubles[Pos(r)]; }
  std::string_view Str(uint32_t r) const { return v->ByteValue(*spec, Pos(r)); }
};

// JOIN's right side in memory, read by every unit's Runner.
struct JoinTable {
  std::vector<Vec> cols;  // the right side's columns, once: joined batches view their strings
  std::unordered_map<std::string, std::vector<uint32_t>> index;  // by encoded key; NULL keys left out
};

// The estimated bytes a query holds, over all its Runners.
struct MemoryBudget {
  std::atomic<int64_t> used{0};
};

// Appends each row's value of v to its key (NULL distinct from any value).
void AppendKeys(const Vec& v, std::vector<std::string>& keys);

// A sum of up to 2^64 BIGINTs fits (GCC and Clang; __extension__: -Wpedantic).
__extension__ typedef __int128 Int128;

struct AggState {
  int64_t count = 0;  // COUNT(DISTINCT) of integers: the distinct count
  Int128 isum = 0;    // exact whatever the order: only SUM's final value must fit BIGINT
  double dsum = 0;
  Value min, max;                                             // valid when count > 0
  std::unique_ptr<std::unordered_set<std::string>> distinct;  // COUNT(DISTINCT x), x not an integer
  std::unique_ptr<HyperLogLog> hll;                           // approx_count_distinct(x)
};

// Sorts collected rows by ORDER BY, ties by their sequence numbers.
void SortRows(const LogicalPlan& plan, std::vector<std::vector<Value>>& rows);

class Runner {
 public:
  // `seq_base`: the unit's index << 32 (0 for the query's own Runner).
  Runner(const LogicalPlan& plan, const ExecLimits& limits, const JoinTable* join, MemoryBudget* budget,
         uint64_t seq_base);
  ~Runner();  // gives its memory back to the budget
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Rows [begin, end) of a decoded row group.
  Status Slice(const std::vector<ColumnVector>& cols, size_t begin, size_t end);
  // A batch of the scan's columns, pushed-down filters applied.
  Status Process(Batch b);
  // Adds a later unit's rows or groups (after this one's); empties `part`.
  Status Merge(Runner& part);
  // The result rows (outputs, then the sequence number when there is an
  // ORDER BY), not yet sorted or cut by OFFSET/LIMIT.
  Result<std::vector<std::vector<Value>>> Finish();
  // Rows already enough for LIMIT (no ORDER BY, aggregate or DISTINCT): the
  // scan may stop.
  bool Enough() const;
  Status CheckLimits();

 private:
  void Need(const BoundExpr& e);
  Status MemoryExceeded() const;
  Status JoinBatch(Batch& b);
  Status Project(const Batch& b);
  void AddRow(std::vector<Value> row);
  uint32_t GroupOfInt(bool null, int64_t v, const std::vector<Value>* key_source, const Vec* kv, size_t r);
  void NewGroup(std::vector<Value> key);
  Status Accumulate(const Batch& b);
  void MergeState(const Aggregate& agg, AggState& into, AggState& from);
  Result<Batch> GroupBatch(size_t begin, size_t end);

  const LogicalPlan& plan_;
  const ExecLimits& limits_;
  const JoinTable* join_;
  MemoryBudget* budget_;
  uint64_t seq_;       // the next row's sequence number
  bool topn_ = false;  // rows_ is a bounded heap of the best k_ rows
  size_t k_ = 0;
  bool int_keys_ = false;            // one integer GROUP BY key: int_index_
  std::vector<bool> fast_distinct_;  // per aggregate: COUNT(DISTINCT integer) in pairs_
  std::vector<bool> needed_;         // per scan column: read by an expression
  int64_t memory_ = 0;               // bytes held in rows, groups and distinct sets (estimated)
  int64_t published_ = 0;            // of memory_, added to budget_
  std::vector<std::vector<Value>> rows_;
  std::unordered_map<std::string, uint32_t> index_;  // encoded keys → group
  IntKeyMap int_index_;
  int64_t null_group_ = -1;               // int_keys_: the NULL key's group
  std::vector<PairSet> pairs_;            // per aggregate (fast_distinct_): this Runner's batches
  std::vector<PartitionedPairs> merged_;  // per aggregate (fast_distinct_): the merged units'
  int64_t merged_bytes_ = 0;
  std::vector<std::vector<Value>> keys_;
  std::vector<AggState> states_;
};

}  // namespace watershed::query
