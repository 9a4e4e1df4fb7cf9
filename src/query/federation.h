#pragma once
// The federated planner (issue #12 part 3, docs/query.md "Global queries"): `FROM global.<table>` is split into
// one fragment per region — a SELECT over that region's own table (`eu.events`) with the WHERE, the projection and
// partial aggregates pushed down — that runs where the data lives; the coordinator merges the partial results
// with an ordinary SELECT over them (re-aggregation, then HAVING, ORDER BY, LIMIT).
//
// Residency: before any region is asked, each fragment that would leave its region is checked against that
// region's export rule (CheckFragment); the region runs the same check again on what it receives (defence in
// depth) and, for aggregates, refuses groups of fewer than k distinct viewers (RunFragment).
//
// Partial aggregates: COUNT(*), COUNT(x), SUM, MIN, MAX are merged by SUM/SUM/SUM/MIN/MAX; AVG(x) travels as
// SUM(x) and COUNT(x). COUNT(DISTINCT viewer_id) is summed over regions when viewers are pinned to one region
// (DistinctViewers::kSum: every deployment ingests with auth on, so an event's viewer and region are the token's
// and a viewer's events all sit in its home region's lake); otherwise (auth off: the client names the region of
// each event, so one viewer may appear in several regions) it travels as a HyperLogLog sketch per group
// (hll_sketch) merged at the coordinator (hll_merge) — an estimate, ~0.8 % standard error, near exact when
// small. approx_count_distinct(x) always travels as a sketch. Any other DISTINCT aggregate is refused (400).

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/event.h"
#include "lake/tables.h"
#include "query/ast.h"
#include "query/executor.h"

namespace watershed::query {

// What may leave one region (gov::RegionPolicy, without the dependency).
struct ExportRule {
  enum class Kind { kNone, kAggregates, kRows };
  Kind kind = Kind::kAggregates;
  int64_t k = 10;
  std::string rule = "default";  // the policy line that set it
};
struct Residency {
  std::array<ExportRule, kMaxRegions> regions;
  // Personal columns per lake table (LakeTableId order); default: viewer_id, event_id of the event tables.
  std::array<std::vector<std::string>, lake::kLakeTableCount> personal;
  bool IsPersonal(lake::LakeTableId table, const std::string& column) const;
};

// A refusal: PermissionDenied whose message is ViolationMessage(v); ParseViolation gives the parts back (the API's
// 403 residency_violation body). `column` may be empty (the whole fragment is refused).
struct ResidencyViolation {
  std::string table, column, region, rule, reason;
};
std::string ViolationMessage(const ResidencyViolation& v);
std::optional<ResidencyViolation> ParseViolation(const std::string& message);
Status Violation(const ResidencyViolation& v);

// True when the statement names a global table anywhere (FROM, JOIN, a subquery).
bool NamesGlobal(const Statement& st);

// Whether `fragment` — a SELECT over one table of `region` — may be answered to a coordinator in `to`:
// InvalidArgument when it is not a fragment's shape, PermissionDenied (ViolationMessage) when it breaks the
// region's export rule. Always OK when to == region.
Status CheckFragment(const Select& fragment, Region region, Region to, const Residency& residency);

// The k check's column, added to an aggregate fragment by RunFragment and removed before the answer.
inline constexpr const char* kKColumn = "__k_viewers";

// Runs a fragment for a coordinator in `to` over this process's lake (catalog): CheckFragment, then, for an
// aggregate leaving the region under export = aggregates, every group must have at least k distinct viewer_ids
// (PermissionDenied otherwise). Bounded by `limits` and by max_rows (kTooLarge past it). A table never created in
// this region answers no columns and no rows (MergeGlobal skips it).
Result<QueryResult> RunFragment(const std::string& sql, Region to, Region region, const Catalog& catalog,
                                const Residency& residency, const ExecLimits& limits, size_t max_rows);

// How COUNT(DISTINCT viewer_id) crosses regions (see the top of this file).
enum class DistinctViewers { kSum, kSketch };

// One region's part of a global query.
struct Fragment {
  Region region = Region::kUs;
  std::string sql;                   // over <region>.<table>
  std::vector<std::string> columns;  // what it returns
};

struct GlobalPlan {
  std::string table;  // "events"
  bool aggregate = false;
  bool explain = false;
  DistinctViewers distinct = DistinctViewers::kSketch;
  std::vector<Fragment> fragments;  // one per region, in `regions` order
  std::shared_ptr<Select> merge;    // over the partial rows (FROM partials)
  // The table's columns the fragments read: outside any count, and only inside COUNT(x), COUNT(DISTINCT x) or
  // approx_count_distinct(x) — for the caller's column rules in the other regions (a masked column only counted
  // gives the same answer; read otherwise it would not be masked by the region that reads it).
  std::vector<std::string> plain_columns, counted_columns;
};

// Splits a SELECT (or EXPLAIN) over global.<table> for a coordinator in `coordinator` and `regions` (every region
// of the deployment), and checks each fragment leaving its region (CheckFragment) — before anything is sent.
// InvalidArgument "line:col: ... over a global table is not supported" for what it cannot split.
Result<GlobalPlan> PlanGlobal(const Statement& st, Region coordinator, const std::vector<Region>& regions,
                              const Residency& residency, DistinctViewers distinct = DistinctViewers::kSketch);

// Merges the fragments' results (in plan.fragments order): every result must have the same columns, or none and no
// rows (a region without the table); NotFound when no region has the table.
Result<QueryResult> MergeGlobal(const GlobalPlan& plan, std::vector<QueryResult> partials, const ExecLimits& limits);

// EXPLAIN's text: per border (region → coordinator) the columns that cross and the estimated rows
// (estimated_rows[i] for fragment i: -1 unknown), then each fragment's SQL and the merge.
std::string ExplainGlobal(const GlobalPlan& plan, Region coordinator, const std::vector<int64_t>& estimated_rows);

// A fragment's estimated answer rows from its plan (pruned files' rows; 1 for an aggregate without GROUP BY).
Result<int64_t> EstimateFragment(const std::string& sql, const Catalog& catalog);

}  // namespace watershed::query
